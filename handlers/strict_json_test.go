package handlers_test

import (
	"net/http"
	"testing"

	"selfcare/internal/testkit"
)

// TestATypoIsRefusedNotIgnored: a misspelt field used to answer 200 while
// changing nothing; now it is a 400 naming it, and the profile is intact.
func TestATypoIsRefusedNotIgnored(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Typo")
	before := env.Get("/api/v1/me", c.ReferentToken)
	r := env.Patch("/api/v1/me", c.ReferentToken, map[string]any{"frist_name": "Zoé"})
	testkit.Expect(t, r, http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["frist_name"] != "unknown_field" {
		t.Fatalf("errors = %v, want frist_name unknown_field", codes)
	}
	after := env.Get("/api/v1/me", c.ReferentToken)
	if string(after.Body) != string(before.Body) {
		t.Fatalf("the profile changed: %s → %s", before.Body, after.Body)
	}
	// Two values for one name: which would count is not for a reader to guess.
	r = env.Do(testkit.Request{Method: http.MethodPatch, Path: "/api/v1/me", Token: c.ReferentToken,
		Body: `{"first_name": "Ann", "first_name": "Bob"}`})
	testkit.Expect(t, r, http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["first_name"] != "duplicate_field" {
		t.Fatalf("errors = %v, want first_name duplicate_field", codes)
	}
}

// TestNestedUnknownFieldsAreNamedByTheirPath: an unknown member deep in a
// body is named where it is.
func TestNestedUnknownFieldsAreNamedByTheirPath(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	body := testkit.ContractBody("Nested", testkit.Unique("nested."))
	body["referent"].(map[string]any)["frist_name"] = "x"
	before := env.RequestEventCount()
	r := env.Post("/api/v1/admin/contracts", testkit.AdminToken, body)
	testkit.Expect(t, r, http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["referent.frist_name"] != "unknown_field" {
		t.Fatalf("errors = %v, want referent.frist_name unknown_field", codes)
	}
	if env.RequestEventCount() != before {
		t.Fatal("a refused contract appended events")
	}
}

// TestNumbersAndBooleansMustBeJSONNumbersAndBooleans: openapi.json says
// duration_months is an integer and upfront a boolean; their spelling as
// strings is refused.
func TestNumbersAndBooleansMustBeJSONNumbersAndBooleans(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Types")
	before := env.RequestEventCount()
	r := env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{"service_code": "AD135",
		"parameters": map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": "12", "upfront": "false"}})
	testkit.Expect(t, r, http.StatusBadRequest)
	codes := r.FieldCodes(t)
	if codes["parameters.duration_months"] != "invalid" || codes["parameters.upfront"] != "invalid" {
		t.Fatalf("errors = %v, want parameters.duration_months and parameters.upfront invalid", codes)
	}
	r = env.Put("/api/v1/admin/contracts/"+c.ID+"/users/"+c.ReferentLogin+"/external-accounts", testkit.AdminToken,
		map[string]any{"incidents": "true", "change_requests": false})
	testkit.Expect(t, r, http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["incidents"] != "invalid_type" {
		t.Fatalf("errors = %v, want incidents invalid_type", codes)
	}
	if env.RequestEventCount() != before {
		t.Fatal("refused requests appended events")
	}
	testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, reservation("c2.large", 12, false)), http.StatusCreated)
}
