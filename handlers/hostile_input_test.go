package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"selfcare/domain/access"
	"selfcare/handlers"
	"selfcare/internal/testkit"
)

// hostileBodies are request bodies no endpoint accepts as valid input.
var hostileBodies = []struct {
	name        string
	body        string
	contentType string
}{
	{"truncated JSON", `{"login": "a`, "application/json"},
	{"an array", `[1, 2, 3]`, "application/json"},
	{"a string", `"hello"`, "application/json"},
	{"null", `null`, "application/json"},
	{"wrong types everywhere", `{"login": [1], "email": {}, "profiles": "all", "items": 7, "password": 1e309, "roles": true}`, "application/json"},
	{"deep nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "application/json"},
	{"invalid UTF-8", "{\"login\": \"\xff\xfe\"}", "application/json"},
	{"over a megabyte", `{"login": "` + strings.Repeat("a", 1<<20+10) + `"}`, "application/json"},
	{"a form", "login=a&password=b", "application/x-www-form-urlencoded"},
}

// tokenFor is a token the rights table lets through row: the back office's,
// an auditor's, or member's (a spare session for a row that ends it; none
// for a public row).
func tokenFor(env *testkit.Env, row handlers.Endpoint, member testkit.User) string {
	switch row.Audience {
	case "operator", "feed_reader":
		return testkit.AdminToken
	case "auditor":
		return testkit.AuditorToken
	case "signed_in", "member", "auditor_or_member":
		if endsSession[row.Key()] {
			return env.SignIn(member.Login, testkit.Password)
		}
		return member.Token
	}
	return ""
}

// TestHostileInputNeverFailsOrWrites sends every endpoint of the rights
// table, as a caller it lets through, bodies that are not valid input:
// the answer is never a 5xx, a refusal is a problem+json, and a refused
// request appends no event.
func TestHostileInputNeverFailsOrWrites(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Hostile")
	// The strongest profile of every section, as the referent has.
	member := env.AddSignedInUser(a, "hostile.", access.ReferentProfiles().Map(), access.RoleAdmin)

	for _, row := range handlers.RightsTable() {
		if row.Method == http.MethodGet || row.Method == http.MethodHead {
			continue
		}
		t.Run(row.Key(), func(t *testing.T) {
			path := strings.ReplaceAll(concrete(row, a.ID), "nobody.at.all", member.Login)
			for _, hb := range hostileBodies {
				token := tokenFor(env, row, member)
				before := env.RequestEventCount()
				r := env.Do(testkit.Request{Method: row.Method, Path: path, Token: token, Body: hb.body,
					Header: map[string]string{"Content-Type": hb.contentType}})
				if r.Status >= 500 {
					t.Fatalf("%s: %d %s", hb.name, r.Status, r.Body)
				}
				if r.Status < 400 {
					continue // an endpoint that reads no body (DELETE, sign-out...)
				}
				if after := env.RequestEventCount(); after != before {
					t.Errorf("%s: refused with %d, yet %d events were appended", hb.name, r.Status, after-before)
				}
				if row.Audience == "oidc_protocol" {
					continue // OAuth errors (RFC 6749 §5.2) or the sign-in page, not problems
				}
				if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
					t.Errorf("%s: %d with Content-Type %q", hb.name, r.Status, ct)
				}
				var p struct {
					Status int    `json:"status"`
					Title  string `json:"title"`
				}
				if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != r.Status || p.Title == "" {
					t.Errorf("%s: problem %s (%v), want status %d and a title", hb.name, r.Body, err, r.Status)
				}
			}
		})
	}
}

// hostileText are path, query and header values that are not text
// PostgreSQL accepts: invalid UTF-8 and NUL characters.
var hostileText = []struct{ name, escaped, raw string }{
	{"invalid UTF-8", "%FF%FE", "\xff\xfe"},
	{"a NUL", "a%00b", ""}, // Go's client refuses a NUL in a header
	{"a truncated sequence", "%C3%28", "\xc3\x28"},
}

// listParameters are the query parameters the API reads somewhere.
var listParameters = []string{"q", "sort", "cursor", "limit", "status", "as_of", "contract", "user", "actor", "from", "to", "after", "types", "wait", "period"}

// TestHostileTextInPathsQueriesAndHeadersNeverFailsOrWrites walks every
// route of the rights table, as a caller it lets through, with values
// that are not text in each path variable, in every query parameter the
// API reads and in the headers it reads: never a 5xx, a refusal is a
// problem+json, and nothing is appended.
func TestHostileTextInPathsQueriesAndHeadersNeverFailsOrWrites(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("HostileText")
	member := env.AddSignedInUser(a, "hostile.text.", access.ReferentProfiles().Map(), access.RoleAdmin)

	check := func(t *testing.T, what string, req testkit.Request) {
		t.Helper()
		before := env.RequestEventCount()
		r := env.Do(req)
		if r.Status >= 500 {
			t.Fatalf("%s: %d %s", what, r.Status, r.Body)
		}
		if r.Status < 400 {
			t.Errorf("%s: %d, want a refusal", what, r.Status)
			return
		}
		if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
			t.Errorf("%s: %d with Content-Type %q", what, r.Status, ct)
		}
		if r.Header.Get("X-Content-Type-Options") != "nosniff" || r.Header.Get("Content-Security-Policy") == "" {
			t.Errorf("%s: %d without the security headers: %v", what, r.Status, r.Header)
		}
		if after := env.RequestEventCount(); after != before {
			t.Errorf("%s: refused with %d, yet %d events were appended", what, r.Status, after-before)
		}
	}
	for _, row := range handlers.RightsTable() {
		t.Run(row.Key(), func(t *testing.T) {
			token := tokenFor(env, row, member)
			path := strings.ReplaceAll(concrete(row, a.ID), "nobody.at.all", member.Login)
			body := map[string]any{}
			for _, ht := range hostileText {
				// Each path variable in turn.
				for v := strings.Index(row.Path, "{"); v >= 0; {
					end := strings.Index(row.Path[v:], "}") + v
					p := strings.ReplaceAll(concrete(handlers.Endpoint{Method: row.Method, Path: row.Path[:v] + "\x00" + row.Path[end+1:], Audience: row.Audience}, a.ID), "nobody.at.all", member.Login)
					p = strings.Replace(p, "\x00", ht.escaped, 1)
					check(t, ht.name+" in "+row.Path[v:end+1], testkit.Request{Method: row.Method, Path: p, Token: token, Body: body})
					next := strings.Index(row.Path[end:], "{")
					if next < 0 {
						break
					}
					v = end + next
				}
				// Every query parameter.
				sep := "?"
				if strings.Contains(path, "?") {
					sep = "&"
				}
				for _, q := range listParameters {
					check(t, ht.name+" in ?"+q, testkit.Request{Method: row.Method, Path: path + sep + q + "=" + ht.escaped, Token: token, Body: body})
				}
				// The headers the API reads.
				if ht.raw != "" {
					for _, h := range []string{"Idempotency-Key", "If-Match", "X-Request-Id"} {
						check(t, ht.name+" in "+h, testkit.Request{Method: row.Method, Path: path, Token: token, Body: body,
							Header: map[string]string{h: ht.raw}})
					}
				}
			}
		})
	}
}

// TestEveryAnswerCarriesTheSecurityHeadersAndHeadWorksWhereGetDoes: the
// router's own 404 and 405 carry the same security headers as the rest,
// and HEAD answers as GET would, without a body.
func TestEveryAnswerCarriesTheSecurityHeadersAndHeadWorksWhereGetDoes(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Heads")
	for _, req := range []testkit.Request{
		{Method: "GET", Path: "/no/such/page"},
		{Method: "PATCH", Path: "/api/v1/sessions"},
		{Method: "GET", Path: "/api/v1/captchas/%FF.png"},
		{Method: "GET", Path: "/api/v1/me", Token: c.ReferentToken},
	} {
		r := env.Do(req)
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"} {
			if r.Header.Get(h) == "" {
				t.Errorf("%s %s → %d lacks %s", req.Method, req.Path, r.Status, h)
			}
		}
		if r.Status >= 500 {
			t.Errorf("%s %s → %d %s", req.Method, req.Path, r.Status, r.Body)
		}
	}
	for _, path := range []string{"/api/v1/me", "/api/v1/contracts/" + c.ID + "/users", "/healthz", "/openapi.json", "/"} {
		get := env.Do(testkit.Request{Method: "GET", Path: path, Token: c.ReferentToken})
		head := env.Do(testkit.Request{Method: "HEAD", Path: path, Token: c.ReferentToken})
		if head.Status != get.Status || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") || len(head.Body) != 0 {
			t.Errorf("HEAD %s → %d %q with %d bytes; GET → %d %q", path, head.Status, head.Header.Get("Content-Type"), len(head.Body), get.Status, get.Header.Get("Content-Type"))
		}
	}
	if r := env.Do(testkit.Request{Method: "HEAD", Path: "/api/v1/me"}); r.Status != 401 {
		t.Errorf("HEAD /api/v1/me signed out → %d, want 401 as GET", r.Status)
	}
}

// TestEveryBodyIsDecodedStrictly walks every operation of openapi.json
// that takes a JSON body, as a caller the rights table lets through: a
// field the endpoint does not know, or a field given twice, is refused
// with 400 naming it, and nothing is written.
func TestEveryBodyIsDecodedStrictly(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Strict")
	member := env.AddSignedInUser(a, "strict.", access.ReferentProfiles().Map(), access.RoleAdmin)
	doc := loadOpenAPI(t)
	walked := 0
	for _, row := range handlers.RightsTable() {
		item := doc.Paths.Find(strings.TrimPrefix(row.Path, ""))
		if item == nil {
			continue
		}
		op := item.GetOperation(row.Method)
		if op == nil || op.RequestBody == nil || op.RequestBody.Value.Content.Get("application/json") == nil {
			continue
		}
		walked++
		t.Run(row.Key(), func(t *testing.T) {
			token := tokenFor(env, row, member)
			path := strings.ReplaceAll(concrete(row, a.ID), "nobody.at.all", member.Login)
			for _, tc := range []struct{ body, field, code string }{
				{`{"zz_not_a_field": 1}`, "zz_not_a_field", "unknown_field"},
				{`{"zz_twice": 1, "zz_twice": 2}`, "zz_twice", "duplicate_field"},
			} {
				before := env.RequestEventCount()
				r := env.Do(testkit.Request{Method: row.Method, Path: path, Token: token, Body: tc.body})
				if r.Status != http.StatusBadRequest || r.FieldCodes(t)[tc.field] != tc.code {
					t.Errorf("%s: %d %s, want 400 with %s on %s", tc.body, r.Status, r.Body, tc.code, tc.field)
				}
				if env.RequestEventCount() != before {
					t.Errorf("%s: refused, yet events were appended", tc.body)
				}
			}
		})
	}
	if walked < 20 {
		t.Fatalf("only %d operations with a JSON body were walked", walked)
	}
}
