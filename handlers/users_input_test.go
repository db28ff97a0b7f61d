package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"selfcare/internal/testkit"
)

// TestBadInputOnUsersWritesChangesNothing sends malformed, wrongly typed
// and invalid bodies to every write of the users feature: each gets a 400
// problem naming every bad field, and no event is stored.
func TestBadInputOnUsersWritesChangesNothing(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Input")
	member := env.AddUser(c, testkit.UserBody(testkit.Unique("member."), nil, "guest"))["login"].(string)
	base := "/api/v1/contracts/" + c.ID

	person := func(edit func(map[string]any)) map[string]any {
		b := testkit.UserBody(testkit.Unique("valid.login."), nil)
		edit(b)
		return b
	}
	cases := []struct {
		name   string
		method string
		path   string
		token  string
		body   any
		want   map[string]string // field → code
	}{
		// POST users.
		{"malformed JSON", "POST", "/users", "", `{"login": `, map[string]string{"body": "invalid_json"}},
		{"not an object", "POST", "/users", "", `[]`, map[string]string{"body": "invalid_type"}},
		{"no body", "POST", "/users", "", ``, map[string]string{"body": "required"}},
		{"two objects", "POST", "/users", "", `{} {}`, map[string]string{"body": "invalid_json"}},
		{"login is a number", "POST", "/users", "", `{"login": 12345678}`, map[string]string{"login": "invalid_type"}},
		{"profiles is a string", "POST", "/users", "", `{"profiles": "manager"}`, map[string]string{"profiles": "invalid_type"}},
		{"a profile is a number", "POST", "/users", "", `{"profiles": {"users": 3}}`, map[string]string{"profiles.users": "invalid_type"}},
		{"a phone is a number", "POST", "/users", "", `{"phone": 123456}`, map[string]string{"phone": "invalid_type"}},
		{"console is a string", "POST", "/users", "", `{"console": "admin"}`, map[string]string{"console": "invalid_type"}},
		{"empty object", "POST", "/users", "", `{}`, map[string]string{
			"login": "required", "email": "required", "civility": "required", "last_name": "required",
			"first_name": "required", "phone": "phone_or_mobile_required"}},
		{"every field wrong at once", "POST", "/users", "", person(func(b map[string]any) {
			b["login"] = "short"
			b["email"] = "not-an-email"
			b["phone"], b["mobile"] = "", ""
			b["civility"] = "dr"
			b["language"] = "de"
			b["profiles"] = map[string]string{"sales": "visitor", "users": "boss", "orders": "manager"}
			b["console"] = []string{"root", "", "guest"}
		}), map[string]string{
			"login": "too_short", "email": "invalid", "phone": "phone_or_mobile_required", "civility": "invalid",
			"language": "invalid", "profiles.sales": "unknown_section", "profiles.users": "invalid",
			"profiles.orders": "invalid", "console[0]": "unknown_role", "console[1]": "required"}},
		{"login with accents", "POST", "/users", "", person(func(b map[string]any) { b["login"] = "jérôme.dupont" }),
			map[string]string{"login": "invalid_chars"}},
		{"login too long", "POST", "/users", "", person(func(b map[string]any) { b["login"] = strings.Repeat("a", 65) }),
			map[string]string{"login": "too_long"}},
		{"bad phone", "POST", "/users", "", person(func(b map[string]any) { b["phone"] = "call me" }),
			map[string]string{"phone": "invalid"}},

		// POST console-users.
		{"console user without console role", "POST", "/console-users", "", person(func(b map[string]any) { b["console"] = []string{} }),
			map[string]string{"console": "required"}},
		{"console user, console missing", "POST", "/console-users", "", person(func(b map[string]any) { delete(b, "console") }),
			map[string]string{"console": "required"}},
		{"console user with an unknown role and a bad email", "POST", "/console-users", "", person(func(b map[string]any) {
			b["console"] = []string{"superuser"}
			b["email"] = "a@b"
		}), map[string]string{"console[0]": "unknown_role", "email": "invalid"}},
		{"console user, malformed", "POST", "/console-users", "", `{"console": [`, map[string]string{"body": "invalid_json"}},

		// PUT users/{login}/roles.
		{"roles: nothing given", "PUT", "/users/" + member + "/roles", "", `{}`, map[string]string{"profiles": "required"}},
		{"roles: unknown section", "PUT", "/users/" + member + "/roles", "", map[string]any{"profiles": map[string]string{"sales": "manager"}},
			map[string]string{"profiles.sales": "unknown_section"}},
		{"roles: profile the section lacks, unknown console role", "PUT", "/users/" + member + "/roles", "",
			map[string]any{"profiles": map[string]string{"orders": "manager"}, "console": []string{"superuser"}},
			map[string]string{"profiles.orders": "invalid", "console[0]": "unknown_role"}},
		{"roles: console is a string", "PUT", "/users/" + member + "/roles", "", `{"console": "admin"}`, map[string]string{"console": "invalid_type"}},
		{"roles: malformed", "PUT", "/users/" + member + "/roles", "", `{"profiles": {`, map[string]string{"body": "invalid_json"}},

		// PUT console-users/{login}/roles.
		{"console roles: missing", "PUT", "/console-users/" + member + "/roles", "", `{}`, map[string]string{"console": "required"}},
		{"console roles: empty name", "PUT", "/console-users/" + member + "/roles", "", `{"console": [""]}`, map[string]string{"console[0]": "required"}},
		{"console roles: an object", "PUT", "/console-users/" + member + "/roles", "", `{"console": {}}`, map[string]string{"console": "invalid_type"}},

		// Back office: console groups and external accounts.
		{"group: no name", "POST", "/console-groups", testkit.AdminToken, `{}`, map[string]string{"name": "required"}},
		{"group: bad characters", "POST", "/console-groups", testkit.AdminToken, `{"name": "ops/admins"}`, map[string]string{"name": "invalid_chars"}},
		{"group: too long", "POST", "/console-groups", testkit.AdminToken, map[string]string{"name": strings.Repeat("g", 65)}, map[string]string{"name": "too_long"}},
		{"group: a number", "POST", "/console-groups", testkit.AdminToken, `{"name": 5}`, map[string]string{"name": "invalid_type"}},
		{"external accounts: missing", "PUT", "/users/" + member + "/external-accounts", testkit.AdminToken, `{}`,
			map[string]string{"incidents": "required", "change_requests": "required"}},
		{"external accounts: a string", "PUT", "/users/" + member + "/external-accounts", testkit.AdminToken, `{"incidents": "yes", "change_requests": true}`,
			map[string]string{"incidents": "invalid_type"}},
		{"external accounts: malformed", "PUT", "/users/" + member + "/external-accounts", testkit.AdminToken, `{`, map[string]string{"body": "invalid_json"}},
	}
	before := env.RequestEventCount()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			token, path := tc.token, base+tc.path
			if token == "" {
				token = c.ReferentToken
			} else {
				path = "/api/v1/admin/contracts/" + c.ID + tc.path
			}
			r := env.Do(testkit.Request{Method: tc.method, Path: path, Token: token, Body: tc.body})
			if r.Status != http.StatusBadRequest || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %s (%s), want a 400 problem", r, r.Header.Get("Content-Type"))
			}
			got := r.FieldCodes(t)
			for field, code := range tc.want {
				if got[field] != code {
					t.Errorf("field %s: code %q, want %q (all: %v)", field, got[field], code, got)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("errors on %v, want exactly %v", got, tc.want)
			}
		})
	}
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("refused writes stored %d events", after-before)
	}

	// Type errors in embedded structs are named by their API field, not
	// by the Go type ("referent.PersonInput.phone").
	r := testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, `{"referent": {"phone": 1}}`), http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["referent.phone"] != "invalid_type" {
		t.Errorf("type error on the referent's phone: %v", codes)
	}

	// A typed login that belongs to another identity (with another email)
	// is a conflict, which changes nothing either.
	taken := testkit.UserBody(member, nil)
	taken["email"] = testkit.Unique("someone.else.") + "@example.com"
	testkit.Expect(t, env.Post(base+"/users", c.ReferentToken, taken), http.StatusConflict)
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("a refused addition stored %d events", after-before)
	}
}
