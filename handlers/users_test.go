package handlers_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"sort"
	"testing"
	"time"

	"selfcare/domain/access"
	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

// user is a user as the users API answers it.
type user struct {
	Login            string            `json:"login"`
	LastName         string            `json:"last_name"`
	FirstName        string            `json:"first_name"`
	Email            string            `json:"email"`
	CreatedOn        string            `json:"created_on"`
	Referent         bool              `json:"referent"`
	Profiles         map[string]string `json:"profiles"`
	Console          []string          `json:"console"`
	Version          int64             `json:"version"`
	ExistingIdentity bool              `json:"existing_identity"`
	RequestedLogin   string            `json:"requested_login"`
	ExternalAccounts map[string]bool   `json:"external_accounts"`
}

func decodeUser(t *testing.T, r *testkit.Response) user {
	t.Helper()
	var u user
	r.JSON(t, &u)
	return u
}

// listLogins returns the logins of a list answer, in order.
func listLogins(t *testing.T, r *testkit.Response) []string {
	t.Helper()
	var l struct {
		Items []user `json:"items"`
	}
	r.JSON(t, &l)
	out := []string{}
	for _, u := range l.Items {
		out = append(out, u.Login)
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// eventTypes lists the types of records.
func eventTypes(recs []eventstore.Record) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.Type
	}
	return out
}

// countEvents counts the stored events of a type.
func countEvents(t *testing.T, env *testkit.Env, eventType string) int {
	t.Helper()
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE event_type = $1`, eventType).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func streamOf(cid, login string) string { return "membership-" + cid + "-" + login }

// checkMetadata asserts an event says who did it, on which contract, from where.
func checkMetadata(t *testing.T, rec eventstore.Record, actor, contract string) {
	t.Helper()
	md := rec.Metadata
	if md.Actor != actor || md.Contract != contract || md.SourceIP == "" || md.RequestID == "" {
		t.Errorf("%s at %d: metadata %+v, want actor %s, contract %s, a source IP and a request id", rec.Type, rec.Position, md, actor, contract)
	}
}

// rolesChanged decodes the before and after of a RolesChanged.
func rolesChanged(t *testing.T, rec eventstore.Record) (before, after access.Roles) {
	t.Helper()
	var e struct {
		Before access.Roles `json:"before"`
		After  access.Roles `json:"after"`
	}
	if err := json.Unmarshal(rec.Data, &e); err != nil {
		t.Fatal(err)
	}
	return e.Before, e.After
}

// TestSpecUsersWalk scripts SPEC §3 over HTTP, end to end.
func TestSpecUsersWalk(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)

	// The back office onboards a contract; its referent signs in.
	a := env.NewContract("SL_Prod")
	base := "/api/v1/contracts/" + a.ID
	ref := a.ReferentToken

	// Console groups appear among the contract's console roles.
	g := testkit.Expect(t, env.Post("/api/v1/admin/contracts/"+a.ID+"/console-groups", testkit.AdminToken, map[string]string{"name": "Team_web"}), http.StatusCreated).Map(t)
	if g["name"] != "Team_web" {
		t.Fatalf("created group %v", g)
	}
	testkit.Expect(t, env.Post("/api/v1/admin/contracts/"+a.ID+"/console-groups", testkit.AdminToken, map[string]string{"name": "team_WEB"}), http.StatusConflict)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts/"+a.ID+"/console-groups", testkit.AdminToken, map[string]string{"name": "Admin"}), http.StatusConflict)
	var choices []access.ConsoleRoleChoice
	testkit.Expect(t, env.Get(base+"/console-roles", ref), http.StatusOK).JSON(t, &choices)
	wantChoices := []access.ConsoleRoleChoice{{Name: "admin", Kind: "predefined"}, {Name: "power_user", Kind: "predefined"}, {Name: "guest", Kind: "predefined"}, {Name: "Team_web", Kind: "group"}}
	if !reflect.DeepEqual(choices, wantChoices) {
		t.Fatalf("console roles = %v, want %v", choices, wantChoices)
	}

	// The referent adds a user with profiles and console roles: a console
	// account is provisioned.
	aliceLogin := testkit.Unique("alice.martin.")
	r := testkit.Expect(t, env.Post(base+"/users", ref, testkit.UserBody(aliceLogin,
		map[string]string{"orders": "visitor", "support": "visitor"}, "power_user", "team_web")), http.StatusCreated)
	alice := decodeUser(t, r)
	if alice.Login != aliceLogin || alice.ExistingIdentity || alice.RequestedLogin != aliceLogin {
		t.Fatalf("added %+v", alice)
	}
	wantProfiles := map[string]string{"contract": "manager", "dashboard": "none", "orders": "visitor", "subscriptions": "none",
		"services": "none", "invoices": "none", "support": "visitor", "users": "none"}
	if !reflect.DeepEqual(alice.Profiles, wantProfiles) || !reflect.DeepEqual(alice.Console, []string{"Team_web", "power_user"}) {
		t.Fatalf("alice holds %v %v", alice.Profiles, alice.Console)
	}
	if r.Header.Get("ETag") != `"2"` || r.Header.Get("Location") != base+"/users/"+aliceLogin {
		t.Fatalf("ETag %q, Location %q", r.Header.Get("ETag"), r.Header.Get("Location"))
	}
	recs := env.Stream(streamOf(a.ID, aliceLogin))
	if got := eventTypes(recs); !reflect.DeepEqual(got, []string{"UserAddedToContract", "ConsoleAccountProvisioned"}) {
		t.Fatalf("alice's membership events: %v", got)
	}
	for _, rec := range recs {
		checkMetadata(t, rec, a.ReferentLogin, a.ID)
	}
	aliceToken := env.SignInNew(aliceLogin)

	// A console manager adds a console user and changes console roles, but
	// may not see customer-area users nor change profiles.
	carol := env.AddSignedInUser(a, "carol.console.", map[string]string{"users": "console_manager"})
	daveLogin := testkit.Unique("dave.guest.")
	r = testkit.Expect(t, env.Post(base+"/console-users", carol.Token, testkit.UserBody(daveLogin, nil, "guest")), http.StatusCreated)
	dave := decodeUser(t, r)
	wantConsoleOnly := map[string]string{"contract": "visitor", "dashboard": "none", "orders": "none", "subscriptions": "none",
		"services": "none", "invoices": "none", "support": "none", "users": "none"}
	if !reflect.DeepEqual(dave.Profiles, wantConsoleOnly) || !reflect.DeepEqual(dave.Console, []string{"guest"}) {
		t.Fatalf("console user holds %v %v", dave.Profiles, dave.Console)
	}
	checkMetadata(t, env.Stream(streamOf(a.ID, daveLogin))[1], carol.Login, a.ID)
	testkit.Expect(t, env.Get(base+"/users", carol.Token), http.StatusForbidden)
	consoleUsers := listLogins(t, testkit.Expect(t, env.Get(base+"/console-users", carol.Token), http.StatusOK))
	sort.Strings(consoleUsers)
	if want := []string{aliceLogin, daveLogin}; !reflect.DeepEqual(consoleUsers, sortedCopy(want)) {
		t.Fatalf("console users = %v, want %v", consoleUsers, want)
	}
	if users := listLogins(t, testkit.Expect(t, env.Get(base+"/users", ref), http.StatusOK)); !contains(users, daveLogin) || !contains(users, carol.Login) {
		t.Fatalf("the console user is not among customer-area users: %v", users)
	}

	// Roles change: updated, then deprovisioned, then provisioned again.
	alice = decodeUser(t, testkit.Expect(t, env.Put(base+"/console-users/"+aliceLogin+"/roles", carol.Token, map[string]any{"console": []string{"guest"}}), http.StatusOK))
	if !reflect.DeepEqual(alice.Console, []string{"guest"}) || !reflect.DeepEqual(alice.Profiles, wantProfiles) {
		t.Fatalf("after the console manager's change alice holds %v %v", alice.Profiles, alice.Console)
	}
	recs = env.Stream(streamOf(a.ID, aliceLogin))
	if got := eventTypes(recs[2:]); !reflect.DeepEqual(got, []string{"RolesChanged", "ConsoleAccountUpdated"}) {
		t.Fatalf("events of the change: %v", got)
	}
	before, after := rolesChanged(t, recs[2])
	if !reflect.DeepEqual(before.Console.Names(), []string{"Team_web", "power_user"}) || !reflect.DeepEqual(after.Console.Names(), []string{"guest"}) ||
		before.Profiles != after.Profiles || !reflect.DeepEqual(after.Profiles.Map(), wantProfiles) {
		t.Fatalf("RolesChanged before %s after %s", before, after)
	}
	checkMetadata(t, recs[2], carol.Login, a.ID)
	checkMetadata(t, recs[3], carol.Login, a.ID)

	eventsBefore := env.RequestEventCount()
	testkit.Expect(t, env.Put(base+"/users/"+aliceLogin+"/roles", carol.Token, map[string]any{"profiles": map[string]string{"orders": "none"}}), http.StatusForbidden)
	testkit.Expect(t, env.Delete(base+"/users/"+aliceLogin, carol.Token), http.StatusForbidden)
	if env.RequestEventCount() != eventsBefore {
		t.Fatal("a refused change wrote events")
	}

	testkit.Expect(t, env.Put(base+"/console-users/"+aliceLogin+"/roles", carol.Token, map[string]any{"console": []string{}}), http.StatusOK)
	recs = env.Stream(streamOf(a.ID, aliceLogin))
	if got := eventTypes(recs[4:]); !reflect.DeepEqual(got, []string{"RolesChanged", "ConsoleAccountDeprovisioned"}) {
		t.Fatalf("events of removing every console role: %v", got)
	}
	if contains(listLogins(t, env.Get(base+"/console-users", ref)), aliceLogin) {
		t.Fatal("alice, without console role, is still a console user")
	}
	alice = decodeUser(t, testkit.Expect(t, env.Put(base+"/users/"+aliceLogin+"/roles", ref,
		map[string]any{"profiles": map[string]string{"services": "manager"}, "console": []string{"admin"}}), http.StatusOK))
	if alice.Profiles["services"] != "manager" || alice.Profiles["orders"] != "visitor" || !reflect.DeepEqual(alice.Console, []string{"admin"}) {
		t.Fatalf("after the manager's change alice holds %v %v", alice.Profiles, alice.Console)
	}
	recs = env.Stream(streamOf(a.ID, aliceLogin))
	if got := eventTypes(recs[6:]); !reflect.DeepEqual(got, []string{"RolesChanged", "ConsoleAccountProvisioned"}) {
		t.Fatalf("events of a first console role again: %v", got)
	}

	// The referent stays.
	testkit.Expect(t, env.Delete(base+"/users/"+a.ReferentLogin, ref), http.StatusConflict)
	second := env.AddSignedInUser(a, "second.manager.", map[string]string{"users": "manager"})
	testkit.Expect(t, env.Put(base+"/users/"+a.ReferentLogin+"/roles", second.Token, map[string]any{"profiles": map[string]string{"users": "visitor"}}), http.StatusConflict)
	// Nobody changes their own roles, the referent neither (SPEC §10).
	testkit.Expect(t, env.Put(base+"/users/"+a.ReferentLogin+"/roles", ref, map[string]any{"console": []string{"admin"}}), http.StatusForbidden)

	// The same person added on another contract reuses their identity.
	b := env.NewContract("SL_Dev")
	other := testkit.UserBody(testkit.Unique("alice.typed."), nil)
	other["email"] = aliceLogin + "@EXAMPLE.com"
	other["last_name"] = "Someone Else"
	onB := decodeUser(t, testkit.Expect(t, env.Post("/api/v1/contracts/"+b.ID+"/users", b.ReferentToken, other), http.StatusCreated))
	if onB.Login != aliceLogin || !onB.ExistingIdentity || onB.RequestedLogin != other["login"] || onB.LastName != "Dupont" {
		t.Fatalf("on contract B: %+v", onB)
	}
	registrations := 0
	for _, typ := range eventTypes(env.Stream("identity-" + aliceLogin)) {
		if typ == "IdentityRegistered" {
			registrations++
		}
	}
	if registrations != 1 {
		t.Fatalf("alice's identity was registered %d times", registrations)
	}
	if recs := env.Stream("identity-" + other["login"].(string)); len(recs) != 0 {
		t.Fatalf("an identity was registered for the typed login: %v", eventTypes(recs))
	}

	// Removing a user: gone from A's lists and A, still on B.
	testkit.Expect(t, env.Delete(base+"/users/"+aliceLogin, ref), http.StatusNoContent)
	recs = env.Stream(streamOf(a.ID, aliceLogin))
	if got := eventTypes(recs[8:]); !reflect.DeepEqual(got, []string{"UserRemovedFromContract", "ConsoleAccountDeprovisioned"}) {
		t.Fatalf("events of the removal: %v", got)
	}
	checkMetadata(t, recs[8], a.ReferentLogin, a.ID)
	if contains(listLogins(t, env.Get(base+"/users", ref)), aliceLogin) || contains(listLogins(t, env.Get(base+"/console-users", ref)), aliceLogin) {
		t.Fatal("a removed user is still listed")
	}
	testkit.Expect(t, env.Get(base+"/users/"+aliceLogin, ref), http.StatusNotFound)
	testkit.Expect(t, env.Delete(base+"/users/"+aliceLogin, ref), http.StatusNotFound)
	testkit.Expect(t, env.Get(base, aliceToken), http.StatusNotFound)
	mine := listContracts(t, testkit.Expect(t, env.Get("/api/v1/me/contracts", aliceToken), http.StatusOK))
	if !reflect.DeepEqual(mine, []string{b.ID}) {
		t.Fatalf("alice's contracts after removal: %v", mine)
	}

	// A stale If-Match gets 412 and changes nothing.
	r = testkit.Expect(t, env.Get(base+"/users/"+daveLogin, ref), http.StatusOK)
	etag := r.Header.Get("ETag")
	if etag != `"2"` {
		t.Fatalf("dave's ETag = %q", etag)
	}
	r = testkit.Expect(t, env.Do(testkit.Request{Method: "PUT", Path: base + "/users/" + daveLogin + "/roles", Token: ref,
		Body: map[string]any{"console": []string{"guest", "power_user"}}, Header: map[string]string{"If-Match": etag}}), http.StatusOK)
	if r.Header.Get("ETag") != `"4"` {
		t.Fatalf("ETag after the change = %q", r.Header.Get("ETag"))
	}
	eventsBefore = env.RequestEventCount()
	for _, stale := range []string{etag, `W/"4"`, `"x"`} {
		testkit.Expect(t, env.Do(testkit.Request{Method: "PUT", Path: base + "/users/" + daveLogin + "/roles", Token: ref,
			Body: map[string]any{"console": []string{"admin"}}, Header: map[string]string{"If-Match": stale}}), http.StatusPreconditionFailed)
	}
	testkit.Expect(t, env.Do(testkit.Request{Method: "DELETE", Path: base + "/users/" + daveLogin, Token: ref,
		Header: map[string]string{"If-Match": etag}}), http.StatusPreconditionFailed)
	if env.RequestEventCount() != eventsBefore {
		t.Fatal("a stale write changed something")
	}

	// A concurrent change without If-Match gets 409: it never overwrites.
	concurrentChangesConflict(t, env, a, daveLogin)
}

func sortedCopy(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

func listContracts(t *testing.T, r *testkit.Response) []string {
	t.Helper()
	var l struct {
		Items []struct {
			ID string `json:"id"`
		} `json:"items"`
	}
	r.JSON(t, &l)
	out := []string{}
	for _, c := range l.Items {
		out = append(out, c.ID)
	}
	return out
}

// concurrentChangesConflict makes two role changes of one user decide on
// the same version: the test holds a SHARE lock on the events table, which
// lets both requests read the membership but blocks both appends until
// both wait. One must win, the other get 409, and the user must hold the
// winner's roles.
func concurrentChangesConflict(t *testing.T, env *testkit.Env, c testkit.Contract, login string) {
	t.Helper()
	ctx := context.Background()
	path := "/api/v1/contracts/" + c.ID + "/users/" + login + "/roles"
	changedBefore := countEvents(t, env, "RolesChanged")

	lock, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Rollback(ctx) //nolint:errcheck // released by the commit below
	if _, err := lock.Exec(ctx, `LOCK TABLE events IN SHARE MODE`); err != nil {
		t.Fatal(err)
	}
	consoles := [][]string{{"admin"}, {"Team_web"}}
	type result struct {
		status int
		err    error
	}
	results := make([]chan result, len(consoles))
	for i, console := range consoles {
		results[i] = make(chan result, 1)
		go func() {
			status, err := put(env.URL+path, c.ReferentToken, map[string]any{"console": console})
			results[i] <- result{status, err}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var waiting int
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM pg_locks WHERE relation = 'events'::regclass AND NOT granted`).Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == len(consoles) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d appends wait for the lock", waiting, len(consoles))
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := lock.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	var winner []string
	var statuses []int
	for i, ch := range results {
		res := <-ch
		if res.err != nil {
			t.Fatal(res.err)
		}
		statuses = append(statuses, res.status)
		if res.status == http.StatusOK {
			winner = consoles[i]
		}
	}
	sort.Ints(statuses)
	if !reflect.DeepEqual(statuses, []int{http.StatusOK, http.StatusConflict}) {
		t.Fatalf("concurrent changes answered %v, want one 200 and one 409", statuses)
	}
	if n := countEvents(t, env, "RolesChanged") - changedBefore; n != 1 {
		t.Fatalf("%d RolesChanged for two concurrent changes, want 1", n)
	}
	// The raw PUTs above did not keep their X-Selfcare-Position.
	env.SettleReadModels()
	got := decodeUser(t, testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/users/"+login, c.ReferentToken), http.StatusOK))
	if !reflect.DeepEqual(got.Console, winner) {
		t.Fatalf("the user holds %v, but the change that succeeded set %v", got.Console, winner)
	}
}

// put is a goroutine-safe PUT (testkit's helpers fail the test, which only
// the test's goroutine may do).
func put(url, token string, body any) (int, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequest(http.MethodPut, url, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return 0, err
	}
	return resp.StatusCode, nil
}

func TestRetriedAddWithTheSameIdempotencyKeyAddsOneUser(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Idem")
	login := testkit.Unique("idem.user.")
	req := testkit.Request{Method: "POST", Path: "/api/v1/contracts/" + c.ID + "/users", Token: c.ReferentToken,
		Body: testkit.UserBody(login, nil, "guest"), Header: map[string]string{"Idempotency-Key": "add-" + login}}
	first := testkit.Expect(t, env.Do(req), http.StatusCreated)
	added := countEvents(t, env, "UserAddedToContract")
	second := testkit.Expect(t, env.Do(req), http.StatusCreated)
	if second.Header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(first.Body, second.Body) || second.Header.Get("ETag") != first.Header.Get("ETag") {
		t.Fatalf("the retry was not the first answer replayed: %s / %s", first, second)
	}
	if countEvents(t, env, "UserAddedToContract") != added || len(env.Stream(streamOf(c.ID, login))) != 2 {
		t.Fatal("the retry added the user again")
	}
	req.Body = testkit.UserBody(login, nil, "admin")
	testkit.Expect(t, env.Do(req), http.StatusConflict)
	// Without a key, adding the same person again is a conflict, not a second membership.
	req.Header = nil
	testkit.Expect(t, env.Do(req), http.StatusConflict)
}

func TestRolesAsOfReplayTheMembershipStream(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("AsOf")
	base := "/api/v1/contracts/" + c.ID
	visitor := env.AddSignedInUser(c, "users.visitor.", map[string]string{"users": "visitor"})

	clk.Advance(time.Hour) // t0+1h: added with guest
	login := testkit.Unique("history.")
	env.AddUser(c, testkit.UserBody(login, map[string]string{"orders": "visitor"}, "guest"))
	clk.Advance(time.Hour) // t0+2h: admin, orders none
	testkit.Expect(t, env.Put(base+"/users/"+login+"/roles", c.ReferentToken,
		map[string]any{"profiles": map[string]string{"orders": "none"}, "console": []string{"admin"}}), http.StatusOK)
	clk.Advance(time.Hour) // t0+3h: removed
	testkit.Expect(t, env.Delete(base+"/users/"+login, c.ReferentToken), http.StatusNoContent)

	cases := []struct {
		at      time.Time
		member  bool
		orders  string
		console []string
	}{
		{t0.Add(30 * time.Minute), false, "", []string{}},
		{t0.Add(time.Hour), true, "visitor", []string{"guest"}},
		{t0.Add(90 * time.Minute), true, "visitor", []string{"guest"}},
		{t0.Add(2 * time.Hour), true, "none", []string{"admin"}},
		{t0.Add(3*time.Hour - time.Second), true, "none", []string{"admin"}},
		{t0.Add(3 * time.Hour), false, "", []string{}},
	}
	for _, tc := range cases {
		for _, token := range []string{testkit.AuditorToken, c.ReferentToken} {
			r := testkit.Expect(t, env.Get(base+"/users/"+login+"/roles?as_of="+tc.at.Format(time.RFC3339), token), http.StatusOK)
			var got struct {
				Member   bool              `json:"member"`
				Profiles map[string]string `json:"profiles"`
				Console  []string          `json:"console"`
			}
			r.JSON(t, &got)
			if got.Member != tc.member || got.Profiles["orders"] != tc.orders || !reflect.DeepEqual(got.Console, tc.console) {
				t.Errorf("as of %s: %s", tc.at.Format(time.RFC3339), r.Body)
			}
		}
	}
	testkit.Expect(t, env.Get(base+"/users/"+login+"/roles?as_of="+t0.Format(time.RFC3339), visitor.Token), http.StatusForbidden)
	testkit.Expect(t, env.Get(base+"/users/"+login+"/roles?as_of=yesterday", testkit.AuditorToken), http.StatusBadRequest)
	testkit.Expect(t, env.Get("/api/v1/contracts/OCB9999999/users/"+login+"/roles", testkit.AuditorToken), http.StatusNotFound)
}

func TestUsersListsSearchSortAndPage(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Lists")
	base := "/api/v1/contracts/" + c.ID
	names := []string{"Zola", "Abel", "Martin", "Bernard", "Petit"}
	var logins []string
	for i, n := range names {
		body := testkit.UserBody(testkit.Unique(fmt.Sprintf("list%d.", i)), nil)
		body["last_name"] = n
		if i%2 == 0 {
			body["console"] = []string{"guest"}
		}
		logins = append(logins, env.AddUser(c, body)["login"].(string))
	}

	// Search by name, login and email, case-insensitively.
	if got := listLogins(t, testkit.Expect(t, env.Get(base+"/users?q=berNARD", c.ReferentToken), http.StatusOK)); !reflect.DeepEqual(got, []string{logins[3]}) {
		t.Fatalf("search by last name: %v", got)
	}
	if got := listLogins(t, env.Get(base+"/users?q="+logins[1]+"@example", c.ReferentToken)); !reflect.DeepEqual(got, []string{logins[1]}) {
		t.Fatalf("search by email: %v", got)
	}

	// Sort by last name, descending, in pages of two.
	var all []string
	path := base + "/users?sort=-last_name&limit=2"
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("pagination does not end")
		}
		var page struct {
			Items      []user  `json:"items"`
			NextCursor *string `json:"next_cursor"`
		}
		testkit.Expect(t, env.Get(path, c.ReferentToken), http.StatusOK).JSON(t, &page)
		if len(page.Items) > 2 {
			t.Fatalf("a page of %d items with limit 2", len(page.Items))
		}
		for _, u := range page.Items {
			all = append(all, u.LastName)
		}
		if page.NextCursor == nil {
			break
		}
		path = base + "/users?sort=-last_name&limit=2&cursor=" + *page.NextCursor
	}
	want := append(append([]string(nil), names...), "Dupont") // the referent
	sort.Sort(sort.Reverse(sort.StringSlice(want)))
	if !reflect.DeepEqual(all, want) {
		t.Fatalf("users by last name, descending: %v, want %v", all, want)
	}

	// Console users: only those with a console role, same features.
	if got := listLogins(t, testkit.Expect(t, env.Get(base+"/console-users?sort=last_name", c.ReferentToken), http.StatusOK)); !reflect.DeepEqual(got, []string{logins[2], logins[4], logins[0]}) {
		t.Fatalf("console users by last name: %v", got)
	}
	for _, sortBy := range []string{"login", "first_name", "email", "created_on", "-referent", "profiles.users", "console", "language"} {
		testkit.Expect(t, env.Get(base+"/users?sort="+sortBy, c.ReferentToken), http.StatusOK)
	}
	testkit.Expect(t, env.Get(base+"/users?sort=password_hash", c.ReferentToken), http.StatusBadRequest)
	testkit.Expect(t, env.Get(base+"/users?cursor=garbage", c.ReferentToken), http.StatusBadRequest)
}

func TestSupportPageLinksFollowExternalAccounts(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Support")
	base := "/api/v1/contracts/" + c.ID
	supportOnly := env.AddSignedInUser(c, "support.only.", map[string]string{"support": "visitor"})

	type page struct {
		Contact map[string]string `json:"contact"`
		Links   []struct {
			Rel string `json:"rel"`
			URL string `json:"url"`
		} `json:"links"`
	}
	rels := func(token string) []string {
		var p page
		testkit.Expect(t, env.Get(base+"/support", token), http.StatusOK).JSON(t, &p)
		if p.Contact["phone"] != "+33 1 00 00 00 02" || p.Contact["email"] != "support@example.com" || p.Contact["hours"] == "" {
			t.Fatalf("support contact %v", p.Contact)
		}
		out := []string{}
		for _, l := range p.Links {
			if l.URL == "" {
				t.Fatalf("link %s without URL", l.Rel)
			}
			out = append(out, l.Rel)
		}
		return out
	}
	if got := rels(c.ReferentToken); len(got) != 0 {
		t.Fatalf("links without external accounts: %v", got)
	}
	for _, login := range []string{c.ReferentLogin, supportOnly.Login} {
		u := decodeUser(t, testkit.Expect(t, env.Put("/api/v1/admin/contracts/"+c.ID+"/users/"+login+"/external-accounts", testkit.AdminToken,
			map[string]bool{"incidents": true, "change_requests": true}), http.StatusOK))
		if !u.ExternalAccounts["incidents"] || !u.ExternalAccounts["change_requests"] {
			t.Fatalf("external accounts of %s: %v", login, u.ExternalAccounts)
		}
	}
	if got := rels(c.ReferentToken); !reflect.DeepEqual(got, []string{"open_incident", "manage_services"}) {
		t.Fatalf("referent's links: %v", got)
	}
	// "Manage your services" belongs to the services section.
	if got := rels(supportOnly.Token); !reflect.DeepEqual(got, []string{"open_incident"}) {
		t.Fatalf("links of a support visitor without services: %v", got)
	}
	testkit.Expect(t, env.Put("/api/v1/admin/contracts/"+c.ID+"/users/nobody.at.all/external-accounts", testkit.AdminToken,
		map[string]bool{"incidents": true, "change_requests": false}), http.StatusNotFound)
	testkit.Expect(t, env.Put("/api/v1/admin/contracts/OCB9999999/users/"+c.ReferentLogin+"/external-accounts", testkit.AdminToken,
		map[string]bool{"incidents": true, "change_requests": false}), http.StatusNotFound)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts/OCB9999999/console-groups", testkit.AdminToken, map[string]string{"name": "x"}), http.StatusNotFound)
}
