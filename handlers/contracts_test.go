package handlers_test

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func TestBackOfficeOnboardsAContractAndItsReferentSignsIn(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	login := testkit.Unique("paul.dupont.")
	r := testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, testkit.ContractBody("SL_Prod", login)), http.StatusCreated)
	created := r.Map(t)
	cid, _ := created["id"].(string)
	if len(cid) != 10 || !strings.HasPrefix(cid, "OCB") {
		t.Fatalf("contract id %q is not OCB + 7 digits", cid)
	}
	if pid, _ := created["platform_id"].(string); len(pid) != 32 || strings.ToLower(pid) != pid {
		t.Fatalf("platform id %q is not 32 lowercase hex", pid)
	}
	if r.Header.Get("Location") != "/api/v1/contracts/"+cid {
		t.Fatalf("Location = %q", r.Header.Get("Location"))
	}

	token := env.SignInNew(login)
	got := testkit.Expect(t, env.Get("/api/v1/contracts/"+cid, token), http.StatusOK).Map(t)
	if got["name"] != "SL_Prod" || got["offer"] != "Flexible Engine" || got["company"] == nil {
		t.Fatalf("the referent (contract manager) sees %v", got)
	}
	rights := testkit.Expect(t, env.Get("/api/v1/contracts/"+cid+"/rights", token), http.StatusOK).Map(t)
	profiles := rights["profiles"].(map[string]any)
	want := map[string]string{"contract": "manager", "dashboard": "visitor", "orders": "visitor", "subscriptions": "manager",
		"services": "manager", "invoices": "manager", "support": "manager", "users": "manager"}
	for s, p := range want {
		if profiles[s] != p {
			t.Errorf("referent's %s profile = %v, want %s", s, profiles[s], p)
		}
	}
	if rights["referent"] != true {
		t.Errorf("rights do not say referent: %v", rights)
	}
	mine := testkit.Expect(t, env.Get("/api/v1/me/contracts", token), http.StatusOK).Map(t)
	items := mine["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["id"] != cid {
		t.Fatalf("my contracts = %v", mine)
	}
}

func TestContractEndpointsRefuseOutsiders(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("A")
	b := env.NewContract("B")
	path := "/api/v1/contracts/" + a.ID
	testkit.Expect(t, env.Get(path, ""), http.StatusUnauthorized)
	testkit.Expect(t, env.Get(path, "not-a-token"), http.StatusUnauthorized)
	testkit.Expect(t, env.Get(path, b.ReferentToken), http.StatusNotFound)                           // not declared on A
	testkit.Expect(t, env.Get("/api/v1/contracts/OCB9999999", a.ReferentToken), http.StatusNotFound) // no such contract
	testkit.Expect(t, env.Get(path, testkit.AdminToken), http.StatusForbidden)                       // the back office is not a member
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", a.ReferentToken, testkit.ContractBody("X", testkit.Unique("x.login."))), http.StatusForbidden)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", "", testkit.ContractBody("X", testkit.Unique("x.login."))), http.StatusUnauthorized)
}

func TestCreateContractWithBadInputChangesNothing(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	before := env.RequestEventCount()
	body := testkit.ContractBody("", "short")
	body["company"].(map[string]any)["siret"] = "123"
	body["invoice_contact"].(map[string]any)["email"] = "not-an-email"
	r := testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, body), http.StatusBadRequest)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type = %q", ct)
	}
	codes := r.FieldCodes(t)
	for _, f := range []string{"name", "company.siret", "invoice_contact.email", "referent.login"} {
		if codes[f] == "" {
			t.Errorf("no error on %s: %v", f, codes)
		}
	}
	for _, bad := range []string{`{`, `[]`, `{"name": 12}`, ``} {
		r := env.Do(testkit.Request{Method: "POST", Path: "/api/v1/admin/contracts", Token: testkit.AdminToken, Body: bad})
		if r.Status != http.StatusBadRequest {
			t.Errorf("body %q: got %s, want 400", bad, r)
		}
	}
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("refused commands wrote %d events", after-before)
	}
}

func TestSignInDoesNotTellWhichLoginsExist(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("C")
	wrong := env.Post("/api/v1/sessions", "", map[string]string{"login": c.ReferentLogin, "password": "Wrong-password.1"})
	unknown := env.Post("/api/v1/sessions", "", map[string]string{"login": "nobody.at.all", "password": "Wrong-password.1"})
	testkit.Expect(t, wrong, http.StatusUnauthorized)
	testkit.Expect(t, unknown, http.StatusUnauthorized)
	if wrong.Map(t)["detail"] != unknown.Map(t)["detail"] {
		t.Fatalf("answers differ: %s vs %s", wrong.Body, unknown.Body)
	}
	// Sign out ends the session.
	token := env.SignIn(c.ReferentLogin, testkit.Password)
	testkit.Expect(t, env.Get("/api/v1/me/contracts", token), http.StatusOK)
	testkit.Expect(t, env.Delete("/api/v1/sessions/current", token), http.StatusNoContent)
	testkit.Expect(t, env.Get("/api/v1/me/contracts", token), http.StatusUnauthorized)
}
