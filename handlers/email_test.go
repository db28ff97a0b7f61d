package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

// TestAnUnconfirmedEmailNeverTakesAnotherTenantsRights is the attack of
// issue 10 finding 1: a user of contract B types the address of contract A's
// next hire as their own email; when A's manager adds the hire, or the back
// office makes the hire a referent, the attacker's identity must not be the
// one that gets the rights.
func TestAnUnconfirmedEmailNeverTakesAnotherTenantsRights(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp))
	a := env.NewContract("Acme_A")
	b := env.NewContract("Acme_B")

	hire := testkit.Unique("new.hire.") + "@acme-a.example"
	r := testkit.Expect(t, env.Patch("/api/v1/me", b.ReferentToken, map[string]any{"email": hire, "current_password": testkit.Password}), http.StatusOK)
	if got := r.Map(t); got["email"] == hire || got["pending_email"] != hire {
		t.Fatalf("an unconfirmed email took effect: %s", r.Body)
	}

	// A's manager adds the new hire: a new identity under the typed login.
	typed := testkit.Unique("new.hire.")
	body := testkit.UserBody(typed, map[string]string{"users": "manager", "invoices": "manager"})
	body["email"] = hire
	added := env.AddUser(a, body)
	if !strings.EqualFold(added["login"].(string), typed) {
		t.Fatalf("the new hire was added as %v, want the typed login %s (the attacker is %s)", added["login"], typed, b.ReferentLogin)
	}
	testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID, b.ReferentToken), http.StatusNotFound)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID+"/invoices", b.ReferentToken), http.StatusNotFound)

	// The back office makes someone with another pending address a referent.
	other := testkit.Unique("boss.") + "@acme-c.example"
	testkit.Expect(t, env.Patch("/api/v1/me", b.ReferentToken, map[string]any{"email": other, "current_password": testkit.Password}), http.StatusOK)
	referent := testkit.Unique("boss.")
	cbody := testkit.ContractBody("Acme_C", referent)
	cbody["referent"].(map[string]any)["email"] = other
	created := testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, cbody), http.StatusCreated).Map(t)
	if !strings.EqualFold(created["referent_login"].(string), referent) {
		t.Fatalf("the new contract's referent is %v, want %s", created["referent_login"], referent)
	}
	testkit.Expect(t, env.Get("/api/v1/contracts/"+created["id"].(string), b.ReferentToken), http.StatusNotFound)

	// The attacker's link for the hire's address no longer applies: the
	// address is the hire's now, and a later request voided it anyway.
	testkit.Expect(t, env.Post("/api/v1/email-confirmations", "", map[string]string{"token": linkToken(t, smtp.Next(t, other))}), http.StatusConflict)
}

// TestChangingTheEmailNeedsThePasswordAndTheLinkSentToTheNewAddress walks
// SPEC §10: the current password, a single-use link valid 24 h to the new
// address, the old address told, the old email in force until the link is
// used.
func TestChangingTheEmailNeedsThePasswordAndTheLinkSentToTheNewAddress(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	clk := clock.NewManual(time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC))
	env := testkit.New(t, testkit.WithSMTP(smtp), testkit.WithClock(clk))
	c := env.NewContract("SL_Prod")
	oldEmail := c.ReferentLogin + "@example.com"
	newEmail := testkit.Unique("moved.") + "@example.org"

	before := env.RequestEventCount()
	r := testkit.Expect(t, env.Patch("/api/v1/me", c.ReferentToken, map[string]any{"email": newEmail}), http.StatusBadRequest)
	if r.FieldCodes(t)["current_password"] != "required" {
		t.Fatalf("without the current password: %s", r.Body)
	}
	testkit.Expect(t, env.Patch("/api/v1/me", c.ReferentToken, map[string]any{"email": newEmail, "current_password": "Wrong.Password1"}), http.StatusForbidden)
	if env.RequestEventCount() != before {
		t.Fatal("a refused change of email wrote events")
	}

	r = testkit.Expect(t, env.Patch("/api/v1/me", c.ReferentToken, map[string]any{"email": newEmail, "current_password": testkit.Password, "language": "en"}), http.StatusOK)
	if got := r.Map(t); got["email"] != oldEmail || got["pending_email"] != newEmail || got["language"] != "en" {
		t.Fatalf("me after the request = %s", r.Body)
	}
	told := smtp.NextMatching(t, oldEmail, func(m testkit.Mail) bool { return strings.Contains(m.Subject, "change of your email") })
	if !strings.Contains(told.Text, newEmail) || strings.Contains(told.Text, "token=") {
		t.Fatalf("the notice to the old address:\n%s", told.Text)
	}
	firstLink := linkToken(t, smtp.Next(t, newEmail))
	// Until the link is used the old address stays in force: a login
	// reminder goes there.
	testkit.Expect(t, env.Post("/api/v1/login-reminders", "", map[string]string{"email": oldEmail, "captcha_id": "x", "captcha_answer": "x"}), http.StatusAccepted)
	if m := smtp.Next(t, oldEmail); !strings.Contains(m.Text, c.ReferentLogin) {
		t.Fatalf("login reminder to the old address:\n%s", m.Text)
	}

	// A set-password form does not take an email link.
	testkit.Expect(t, resetPassword(env, firstLink, "Another.Password9"), http.StatusGone)

	// 24 hours later the link has expired.
	clk.Advance(24*time.Hour + time.Second)
	testkit.Expect(t, env.Post("/api/v1/email-confirmations", "", map[string]string{"token": firstLink}), http.StatusGone)
	c.ReferentToken = env.SignIn(c.ReferentLogin, testkit.Password) // the session expired meanwhile
	if got := testkit.Expect(t, env.Get("/api/v1/me", c.ReferentToken), http.StatusOK).Map(t); got["email"] != oldEmail {
		t.Fatalf("an expired link changed the email: %v", got)
	}

	// A new request, confirmed: the new address is in force, the link is
	// single use, and the old address is free for someone else.
	testkit.Expect(t, env.Patch("/api/v1/me", c.ReferentToken, map[string]any{"email": newEmail, "current_password": testkit.Password}), http.StatusOK)
	link := linkToken(t, smtp.Next(t, newEmail))
	testkit.Expect(t, env.Post("/api/v1/email-confirmations", "", map[string]string{"token": firstLink}), http.StatusGone)
	r = testkit.Expect(t, env.Post("/api/v1/email-confirmations", "", map[string]string{"token": link}), http.StatusOK)
	if got := r.Map(t); got["email"] != newEmail || !strings.EqualFold(got["login"].(string), c.ReferentLogin) {
		t.Fatalf("confirmation = %s", r.Body)
	}
	testkit.Expect(t, env.Post("/api/v1/email-confirmations", "", map[string]string{"token": link}), http.StatusGone)
	me := testkit.Expect(t, env.Get("/api/v1/me", c.ReferentToken), http.StatusOK).Map(t)
	if me["email"] != newEmail || me["pending_email"] != nil {
		t.Fatalf("me after confirmation = %v", me)
	}

	// The verified address now selects this identity; the old one does not.
	d := env.NewContract("SL_Dev")
	body := testkit.UserBody(testkit.Unique("someone."), nil)
	body["email"] = newEmail
	if got := env.AddUser(d, body); !strings.EqualFold(got["login"].(string), c.ReferentLogin) {
		t.Fatalf("adding the verified address gave %v, want %s", got["login"], c.ReferentLogin)
	}
	typed := testkit.Unique("heir.")
	body = testkit.UserBody(typed, nil)
	body["email"] = oldEmail
	if got := env.AddUser(d, body); !strings.EqualFold(got["login"].(string), typed) {
		t.Fatalf("adding the released address gave %v, want a new identity %s", got["login"], typed)
	}
}
