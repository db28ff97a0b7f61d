package handlers_test

import (
	"net/http"
	"reflect"
	"testing"

	"selfcare/internal/testkit"
)

// A conflict caused by one field of the add-user form names that field,
// as a 400 does, so that the form shows it where the user typed it.
func TestAddingAUserWhoseLoginOrEmailConflictsNamesTheField(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("SL_Prod")
	member := env.AddSignedInUser(c, "member.", nil)
	other := env.NewContract("Other")

	tests := []struct {
		name         string
		login, email string
		want         map[string]string
	}{
		{"a login another identity holds", other.ReferentLogin, testkit.Unique("fresh.") + "@example.com", map[string]string{"login": "taken"}},
		{"the email of a member of the contract", testkit.Unique("typed."), member.Login + "@example.com", map[string]string{"email": "already_member"}},
		{"the login and email of a member", member.Login, member.Login + "@example.com", map[string]string{"email": "already_member"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := testkit.UserBody(tt.login, nil)
			body["email"] = tt.email
			for _, path := range []string{"/users", "/console-users"} {
				if path == "/console-users" {
					body["console"] = []string{"guest"}
				}
				r := testkit.Expect(t, env.Post("/api/v1/contracts/"+c.ID+path, c.ReferentToken, body), http.StatusConflict)
				if got := r.FieldCodes(t); !reflect.DeepEqual(got, tt.want) {
					t.Errorf("POST %s: errors %v, want %v", path, got, tt.want)
				}
				if r.Map(t)["detail"] == "" {
					t.Errorf("POST %s: no detail: %s", path, r.Body)
				}
			}
		})
	}
	// Nothing was added.
	testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/users/"+other.ReferentLogin, c.ReferentToken), http.StatusNotFound)
}
