package handlers_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"selfcare/domain/access"
	"selfcare/handlers"
	"selfcare/internal/config"
	"selfcare/internal/testkit"
)

// endsSession lists the rows that end the caller's session when allowed:
// users call them with a spare token.
var endsSession = map[string]bool{"DELETE /api/v1/sessions/current": true}

// Outcomes of a call, as the rights table decides them.
const (
	allowed        = "allowed"
	unauthorized   = "401"
	forbidden      = "403"
	notOnContract  = "404"
	serverError    = "5xx"
	outcomeUnknown = "?"
)

type callerKind int

const (
	anonymousCaller callerKind = iota
	adminCaller
	auditorCaller
	outsiderCaller // signed in, declared on another contract only, or on none
	memberCaller   // declared on the contract under test with roles
)

type caller struct {
	name  string
	kind  callerKind
	token string
	spare string // a second session, for rows that end the session
	roles access.Roles
}

// expected derives the outcome of a call from the row's audience and, for
// members, from the capability table of domain/access.
func expected(row handlers.Endpoint, c caller) string {
	if c.kind == anonymousCaller && row.Audience != "public" && row.Audience != "oidc_protocol" {
		return unauthorized
	}
	switch row.Audience {
	case "public", "oidc_protocol": // the provider authenticates its callers itself
		return allowed
	case "signed_in":
		return when(c.kind == outsiderCaller || c.kind == memberCaller, allowed, forbidden)
	case "operator":
		return when(c.kind == adminCaller, allowed, forbidden)
	case "auditor":
		return when(c.kind == auditorCaller, allowed, forbidden)
	case "feed_reader":
		return when(c.kind == adminCaller || c.kind == auditorCaller, allowed, forbidden)
	case "member", "auditor_or_member":
		switch c.kind {
		case auditorCaller:
			return when(row.Audience == "auditor_or_member", allowed, forbidden)
		case adminCaller:
			return forbidden
		case outsiderCaller:
			return notOnContract
		default:
			return when(c.roles.Can(row.Capability), allowed, forbidden)
		}
	}
	return outcomeUnknown
}

func when(cond bool, yes, no string) string {
	if cond {
		return yes
	}
	return no
}

// outcome tells a refusal of the authorizer (its problem types) from
// anything the endpoint itself answered, which means the call passed the
// rights check: a 400 for the empty body sent, a 404 for the unknown
// sub-resource named, a 200...
func outcome(t *testing.T, status int, header http.Header, body []byte) string {
	t.Helper()
	if status >= 500 {
		return serverError
	}
	if !strings.HasPrefix(header.Get("Content-Type"), "application/problem+json") {
		return allowed
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("problem is not JSON: %s", body)
	}
	want := map[string]int{
		handlers.ProblemUnauthenticated:  http.StatusUnauthorized,
		handlers.ProblemForbidden:        http.StatusForbidden,
		handlers.ProblemContractNotFound: http.StatusNotFound,
	}
	code, refused := want[p.Type]
	if !refused {
		return allowed
	}
	if status != code || p.Status != code {
		t.Fatalf("refusal of type %s with status %d (problem says %d)", p.Type, status, p.Status)
	}
	return map[int]string{401: unauthorized, 403: forbidden, 404: notOnContract}[code]
}

// concrete fills a row's path template: the contract under test, a login
// nobody has, "x" elsewhere. Member rows without {cid} name the contract
// in ?contract=.
func concrete(row handlers.Endpoint, cid string) string {
	p := row.Path
	hasCID := strings.Contains(p, "{cid}")
	p = strings.ReplaceAll(p, "{cid}", cid)
	p = strings.ReplaceAll(p, "{login}", "nobody.at.all")
	for strings.Contains(p, "{") {
		i, j := strings.Index(p, "{"), strings.Index(p, "}")
		p = p[:i] + "x" + p[j+1:]
	}
	if !hasCID && (row.Audience == "member" || row.Audience == "auditor_or_member") {
		p += "?contract=" + url.QueryEscape(cid)
	}
	return p
}

func call(t *testing.T, env *testkit.Env, method, path, token string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, env.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, body
}

// memberRoles are the members the matrix tries: for every section, every
// profile it accepts (the other sections at their weakest), with and
// without a console role, and the referent's roles. Duplicates are merged.
func memberRoles(t *testing.T) map[string]access.Roles {
	t.Helper()
	guest := access.RestoreConsoleRoles([]string{access.RoleGuest})
	out := map[string]access.Roles{}
	add := func(r access.Roles) { out[r.String()] = r }
	for _, s := range access.Sections {
		for _, p := range s.Profiles() {
			ps, err := access.ConsoleOnlyProfiles().With(s, p)
			if err != nil {
				t.Fatal(err)
			}
			add(access.Roles{Profiles: ps})
		}
	}
	add(access.Roles{Profiles: access.ConsoleOnlyProfiles(), Console: guest})
	withDashboard, err := access.ConsoleOnlyProfiles().With(access.SectionDashboard, access.Visitor)
	if err != nil {
		t.Fatal(err)
	}
	add(access.Roles{Profiles: withDashboard, Console: guest})
	add(access.Roles{Profiles: access.ReferentProfiles()})
	add(access.Roles{Profiles: access.ReferentProfiles(), Console: guest})
	return out
}

// TestRightsMatrix walks every row of the rights table with every kind of
// caller and every profile of every section, and checks the authorizer's
// answer against the capability table of domain/access.
func TestRightsMatrix(t *testing.T) {
	t.Parallel()
	// Every profile calls every row from one address: the throttle table,
	// which TestThrottleTable walks, would refuse most of them.
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.RateLimitsDisabled = true }))
	a := env.NewContract("Matrix")
	b := env.NewContract("Elsewhere")

	callers := []caller{
		{name: "anonymous", kind: anonymousCaller},
		{name: "admin token", kind: adminCaller, token: testkit.AdminToken},
		{name: "auditor token", kind: auditorCaller, token: testkit.AuditorToken},
		{name: "referent of another contract", kind: outsiderCaller, token: b.ReferentToken,
			spare: env.SignIn(b.ReferentLogin, testkit.Password)},
	}
	// A signed-in user declared on no contract: added to B, then removed.
	stranger := env.AddSignedInUser(b, "stranger.", nil)
	testkit.Expect(t, env.Delete("/api/v1/contracts/"+b.ID+"/users/"+stranger.Login, b.ReferentToken), http.StatusNoContent)
	callers = append(callers, caller{name: "signed in, on no contract", kind: outsiderCaller, token: stranger.Token,
		spare: env.SignIn(stranger.Login, testkit.Password)})

	for name, roles := range memberRoles(t) {
		var u testkit.User
		if roles.Profiles == access.ReferentProfiles() && roles.Console.IsEmpty() {
			u = testkit.User{Login: a.ReferentLogin, Token: a.ReferentToken}
		} else {
			u = env.AddSignedInUser(a, "matrix.", roles.Profiles.Map(), roles.Console.Names()...)
		}
		// The server must hold the roles the expectations are derived from.
		var got access.Roles
		testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID+"/rights", u.Token), http.StatusOK).JSON(t, &got)
		if !got.Equal(roles) {
			t.Fatalf("member %s holds %s, want %s", u.Login, got, roles)
		}
		callers = append(callers, caller{name: "member " + name, kind: memberCaller, token: u.Token,
			spare: env.SignIn(u.Login, testkit.Password), roles: roles})
	}

	missing := map[string]bool{}
	for _, k := range env.Server.HTTP.MissingRoutes() {
		missing[k] = true
	}
	for _, row := range handlers.RightsTable() {
		t.Run(row.Key(), func(t *testing.T) {
			if missing[row.Key()] {
				t.Fatalf("no route registered for this row of the rights table")
			}
			path := concrete(row, a.ID)
			for _, c := range callers {
				token := c.token
				if endsSession[row.Key()] && c.spare != "" {
					token = c.spare
				}
				status, header, body := call(t, env, row.Method, path, token)
				got, want := outcome(t, status, header, body), expected(row, c)
				if got != want {
					t.Errorf("%s %s as %s: got %s (%d %s), want %s", row.Method, path, c.name, got, status, body, want)
				}
			}
		})
	}
}

// TestNobodyChangesTheirOwnRolesNorAConsoleManagerThoseAboveIt walks the
// rows that change or remove a member with every actor that may call them
// and every kind of target (SPEC §10): nobody changes their own roles or
// removes themselves, and a console manager leaves the referent's and the
// users managers' console roles alone. The rights table lets all of these
// calls through; the decision refuses them.
func TestNobodyChangesTheirOwnRolesNorAConsoleManagerThoseAboveIt(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Targets")
	manager := env.AddSignedInUser(a, "manager.", map[string]string{"users": "manager"}, "guest")
	consoleManager := env.AddSignedInUser(a, "consolemgr.", map[string]string{"users": "console_manager"}, "guest")
	plain := env.AddSignedInUser(a, "plain.", nil, "guest")
	referent := testkit.User{Login: a.ReferentLogin, Token: a.ReferentToken}

	type member struct {
		name    string
		u       testkit.User
		manager bool // users: manager (the referent is one)
	}
	actors := []member{{"the referent", referent, true}, {"a users manager", manager, true}, {"a console manager", consoleManager, false}}
	targets := []member{{"the referent", referent, true}, {"a users manager", manager, true}, {"a console manager", consoleManager, false}, {"a plain user", plain, false}}
	rows := []struct {
		method, path string
		body         any
		ok           int
		// allowed tells whether actor may do it to target, besides the
		// self rule; the rights table's capability included.
		allowed func(actor, target member) bool
	}{
		{"PUT", "/users/%s/roles", map[string]any{"console": []string{"power_user"}}, http.StatusOK,
			func(actor, _ member) bool { return actor.manager }},
		{"PUT", "/console-users/%s/roles", map[string]any{"console": []string{"admin"}}, http.StatusOK,
			func(actor, target member) bool { return actor.manager || !target.manager }},
		{"DELETE", "/users/%s", nil, 0, // never carried out here: every target below stays
			func(actor, target member) bool { return false }},
	}
	for _, row := range rows {
		for _, actor := range actors {
			for _, target := range targets {
				want := row.ok
				switch {
				case row.method == "DELETE" && actor.manager && target.u.Login == referent.Login:
					want = http.StatusConflict // the referent is never removed, by anyone
				case actor.u.Login == target.u.Login || !row.allowed(actor, target):
					want = http.StatusForbidden
				}
				if row.method == "DELETE" && actor.manager && actor.u.Login != target.u.Login {
					continue // removing others is tested elsewhere; it would end this walk
				}
				path := "/api/v1/contracts/" + a.ID + strings.Replace(row.path, "%s", target.u.Login, 1)
				before := env.RequestEventCount()
				r := env.Do(testkit.Request{Method: row.method, Path: path, Token: actor.u.Token, Body: row.body})
				if r.Status != want {
					t.Errorf("%s %s by %s on %s: got %d %s, want %d", row.method, row.path, actor.name, target.name, r.Status, r.Body, want)
				}
				if want >= 400 && env.RequestEventCount() != before {
					t.Errorf("%s %s by %s on %s: refused, yet events were written", row.method, row.path, actor.name, target.name)
				}
			}
		}
	}
}
