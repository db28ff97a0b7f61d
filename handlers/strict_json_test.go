package handlers_test

import (
	"net/http"
	"testing"

	"selfcare/internal/testkit"
)

// TestNamesMatchExactly: a name is the API's only in its own case. Matched
// regardless of case, {"first_name": "Ann", "FIRST_NAME": "Bob"} passed the
// duplicate check (two different names) and then set the first name twice,
// the last one winning: two readers of one body could disagree on it.
func TestNamesMatchExactly(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Cases")
	before := env.Get("/api/v1/me", c.ReferentToken)
	for _, tt := range []struct{ name, body, field, code string }{
		{"the same name in two cases", `{"first_name": "Ann", "FIRST_NAME": "Bob"}`, "FIRST_NAME", "unknown_field"},
		{"a name in another case", `{"First_Name": "Bob"}`, "First_Name", "unknown_field"},
		{"nested, in another case", `{"referent": {"Login": "x"}}`, "referent.Login", "unknown_field"},
	} {
		path, token := "/api/v1/me", c.ReferentToken
		method := http.MethodPatch
		if tt.field == "referent.Login" {
			path, token, method = "/api/v1/admin/contracts", testkit.AdminToken, http.MethodPost
		}
		r := env.Do(testkit.Request{Method: method, Path: path, Token: token, Body: tt.body})
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s, want 400", tt.name, r.Status, r.Body)
			continue
		}
		if codes := r.FieldCodes(t); codes[tt.field] != tt.code {
			t.Errorf("%s: errors %v, want %s %s", tt.name, codes, tt.field, tt.code)
		}
	}
	if after := env.Get("/api/v1/me", c.ReferentToken); string(after.Body) != string(before.Body) {
		t.Fatalf("the profile changed: %s → %s", before.Body, after.Body)
	}
}
