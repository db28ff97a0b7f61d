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
				var token string
				switch row.Audience {
				case "operator", "feed_reader":
					token = testkit.AdminToken
				case "auditor":
					token = testkit.AuditorToken
				case "signed_in", "member", "auditor_or_member":
					token = member.Token
					if endsSession[row.Key()] {
						token = env.SignIn(member.Login, testkit.Password)
					}
				}
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
