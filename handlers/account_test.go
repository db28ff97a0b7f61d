package handlers_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"selfcare/internal/clock"
	"selfcare/internal/config"
	"selfcare/internal/testkit"
)

var (
	tokenRE = regexp.MustCompile(`token=([A-Za-z0-9_-]+)`)
	codeRE  = regexp.MustCompile(`\b\d{6}\b`)
)

// linkToken returns the token of the set-password link in an email.
func linkToken(t *testing.T, m testkit.Mail) string {
	t.Helper()
	found := tokenRE.FindAllStringSubmatch(m.Text, -1)
	if len(found) != 1 {
		t.Fatalf("email %q has %d links with token=, want 1:\n%s", m.Subject, len(found), m.Text)
	}
	if !strings.Contains(m.Raw, "token="+found[0][1]) {
		t.Fatalf("the raw message does not show token=<token> as is:\n%s", m.Raw)
	}
	return found[0][1]
}

// resetPassword posts the password-reset form: the token and the new
// password typed twice.
func resetPassword(env *testkit.Env, token, password string) *testkit.Response {
	return env.Post("/api/v1/password-resets", "", map[string]string{
		"token": token, "new_password": password, "confirm_password": password})
}

// newUser creates a contract through the back office; its referent is a
// new identity, who gets the access email. It returns the contract id,
// the referent's login and email.
func newUser(t *testing.T, env *testkit.Env, lang string) (cid, login, email string) {
	t.Helper()
	login = testkit.Unique("julie.dupont.")
	body := testkit.ContractBody("SL_Prod", login)
	body["referent"].(map[string]any)["language"] = lang
	r := testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, body), http.StatusCreated)
	return r.Map(t)["id"].(string), login, login + "@example.com"
}

func TestANewUserSetsAPasswordFromTheAccessEmailAndManagesTheirAccount(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp))
	cid, login, email := newUser(t, env, "en")

	access := smtp.Next(t, email)
	if access.Subject != "Welcome to your Flexible Engine customer area" || !strings.Contains(access.Text, login) ||
		!strings.Contains(access.Text, cid) {
		t.Fatalf("access email: %q\n%s", access.Subject, access.Text)
	}
	token := linkToken(t, access)

	// The policy is checked; nothing is written for a refused password.
	before := env.RequestEventCount()
	r := testkit.Expect(t, env.Post("/api/v1/password-resets", "", map[string]string{
		"token": token, "new_password": "short", "confirm_password": "other"}), http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["new_password"] == "" || codes["confirm_password"] != "mismatch" {
		t.Fatalf("policy errors: %s", r.Body)
	}
	r = testkit.Expect(t, resetPassword(env, token, login), http.StatusBadRequest)
	if !strings.Contains(string(r.Body), "same_as_login") {
		t.Fatalf("a password equal to the login: %s", r.Body)
	}
	if env.RequestEventCount() != before {
		t.Fatal("a refused password wrote events")
	}

	const first = "Premier.Mot-de-passe9"
	r = testkit.Expect(t, resetPassword(env, token, first), http.StatusOK)
	if r.Map(t)["strength"] != "strong" {
		t.Fatalf("strength: %s", r.Body)
	}
	testkit.Expect(t, resetPassword(env, token, "Another.Pass9"), http.StatusGone)
	if set := smtp.Next(t, email); set.Subject != "Your password has been set" {
		t.Fatalf("confirmation: %q", set.Subject)
	}

	token1 := env.SignIn(login, first)
	token2 := env.SignIn(login, first)

	me := testkit.Expect(t, env.Get("/api/v1/me", token1), http.StatusOK)
	got := me.Map(t)
	if got["login"] != login || got["email"] != email || got["language"] != "en" || got["last_name"] != "Dupont" {
		t.Fatalf("me = %s", me.Body)
	}
	etag := me.Header.Get("ETag")
	if etag == "" {
		t.Fatal("GET /me has no ETag")
	}

	// Edit the profile: mobile instead of landline, French.
	r = testkit.Expect(t, env.Patch("/api/v1/me", token1, map[string]any{
		"phone": "", "mobile": "+33 6 12 34 56 78", "language": "fr", "first_name": "Juliette"}), http.StatusOK)
	got = r.Map(t)
	if got["email"] != email || got["phone"] != "" || got["mobile"] != "+33 6 12 34 56 78" || got["language"] != "fr" || got["first_name"] != "Juliette" {
		t.Fatalf("patched me = %s", r.Body)
	}
	// A new email takes effect through its link (email_test.go walks it).
	newEmail := testkit.Unique("julie.new.") + "@example.org"
	r = testkit.Expect(t, env.Patch("/api/v1/me", token1, map[string]any{"email": newEmail, "current_password": first}), http.StatusOK)
	if got := r.Map(t); got["email"] != email || got["pending_email"] != newEmail {
		t.Fatalf("me after asking for a new email = %s", r.Body)
	}
	notice := smtp.NextMatching(t, email, func(m testkit.Mail) bool { return strings.Contains(m.Subject, "adresse e-mail") })
	if !strings.Contains(notice.Text, newEmail) {
		t.Fatalf("the old address is told of the change:\n%s", notice.Text)
	}
	testkit.Expect(t, env.Post("/api/v1/email-confirmations", "", map[string]string{"token": linkToken(t, smtp.Next(t, newEmail))}), http.StatusOK)
	// The old ETag is stale now.
	testkit.Expect(t, env.Do(testkit.Request{Method: "PATCH", Path: "/api/v1/me", Token: token1,
		Body: map[string]any{"last_name": "Martin"}, Header: map[string]string{"If-Match": etag}}), http.StatusPreconditionFailed)

	// Change the password: a wrong current one is 403; the other session ends.
	const second = "Deuxieme.Mot-de-passe7"
	testkit.Expect(t, env.Put("/api/v1/me/password", token1, map[string]string{
		"current_password": "Wrong.Password1", "new_password": second, "confirm_password": second}), http.StatusForbidden)
	r = testkit.Expect(t, env.Put("/api/v1/me/password", token1, map[string]string{
		"current_password": first, "new_password": second, "confirm_password": second}), http.StatusOK)
	if r.Map(t)["strength"] != "strong" {
		t.Fatalf("strength: %s", r.Body)
	}
	testkit.Expect(t, env.Get("/api/v1/me", token2), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/api/v1/me", token1), http.StatusOK)
	testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": login, "password": first}), http.StatusUnauthorized)
	env.SignIn(login, second)
	if changed := smtp.Next(t, newEmail); changed.Subject != "Votre mot de passe a été modifié" {
		t.Fatalf("the change is confirmed in the user's new language at the new address: %q", changed.Subject)
	}

	// Forgotten login: the reminder goes to the address typed.
	testkit.Expect(t, env.Post("/api/v1/login-reminders", "", map[string]string{"email": strings.ToUpper(newEmail)}), http.StatusAccepted)
	reminder := smtp.Next(t, strings.ToUpper(newEmail))
	if !strings.Contains(reminder.Text, "Votre identifiant : "+login) {
		t.Fatalf("login reminder:\n%s", reminder.Text)
	}

	// Forgotten password: a link, single use; every session ends.
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": strings.ToUpper(login)}), http.StatusAccepted)
	resetMail := smtp.Next(t, newEmail)
	if resetMail.Subject != "Votre demande de réinitialisation de mot de passe" {
		t.Fatalf("reset email: %q", resetMail.Subject)
	}
	reset := linkToken(t, resetMail)
	const third = "Troisieme.Mdp5"
	r = testkit.Expect(t, resetPassword(env, reset, third), http.StatusOK)
	if r.Map(t)["strength"] != "strong" {
		t.Fatalf("strength: %s", r.Body)
	}
	testkit.Expect(t, resetPassword(env, reset, "Quatrieme.Mdp5"), http.StatusGone)
	testkit.Expect(t, env.Get("/api/v1/me", token1), http.StatusUnauthorized)
	env.SignIn(login, third)
	if done := smtp.Next(t, newEmail); done.Subject != "Votre mot de passe a été modifié" {
		t.Fatalf("reset confirmation: %q", done.Subject)
	}

	// No event holds a password, token or link.
	var leaks int
	if err := env.Pool.QueryRow(context.Background(), `
SELECT count(*) FROM events WHERE data::text LIKE ANY ($1) OR metadata::text LIKE ANY ($1)`,
		[]string{"%" + token + "%", "%" + reset + "%", "%" + first + "%", "%" + second + "%", "%" + third + "%"}).Scan(&leaks); err != nil {
		t.Fatal(err)
	}
	if leaks != 0 {
		t.Fatalf("%d events hold a secret", leaks)
	}
}

func TestASetPasswordLinkExpiresAfter24Hours(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp), testkit.WithClock(clk))
	_, _, email := newUser(t, env, "fr")
	access := smtp.Next(t, email)
	if access.Subject != "Bienvenue dans votre Espace Client Flexible Engine" {
		t.Fatalf("a French user's access email: %q", access.Subject)
	}
	token := linkToken(t, access)
	clk.Advance(24*time.Hour + time.Second)
	testkit.Expect(t, resetPassword(env, token, "Premier.Mot-de-passe9"), http.StatusGone)
	testkit.Expect(t, resetPassword(env, "not-a-token", "Premier.Mot-de-passe9"), http.StatusGone)
}

func TestRecoveryFormsDoNotTellWhichAccountsExist(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp))
	c := env.NewContract("C")
	before := env.RequestEventCount()
	unknown := testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": "nobody.at.all"}), http.StatusAccepted)
	known := testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin}), http.StatusAccepted)
	if !bytes.Equal(unknown.Body, known.Body) {
		t.Fatalf("answers differ: %s vs %s", unknown.Body, known.Body)
	}
	if env.RequestEventCount() != before+1 {
		t.Fatalf("an unknown login wrote events: %d", env.RequestEventCount()-before)
	}
	unknown = testkit.Expect(t, env.Post("/api/v1/login-reminders", "", map[string]string{"email": "nobody@example.com"}), http.StatusAccepted)
	known = testkit.Expect(t, env.Post("/api/v1/login-reminders", "", map[string]string{"email": c.ReferentLogin + "@example.com"}), http.StatusAccepted)
	if !bytes.Equal(unknown.Body, known.Body) {
		t.Fatalf("answers differ: %s vs %s", unknown.Body, known.Body)
	}
	if env.RequestEventCount() != before+2 {
		t.Fatalf("an unknown email wrote events: %d", env.RequestEventCount()-before-1)
	}
	if m, ok := smtp.NextWithin("nobody@example.com", 500*time.Millisecond); ok {
		t.Fatalf("a mail went to an unknown address: %q", m.Subject)
	}
}

func TestCaptchasGuardTheRecoveryForms(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.CaptchaDisabled = false }))
	c := env.NewContract("C")
	captcha := func() (string, string) {
		r := testkit.Expect(t, env.Post("/api/v1/captchas", "", nil), http.StatusCreated)
		var out struct {
			ID  string `json:"captcha_id"`
			URL string `json:"image_url"`
		}
		r.JSON(t, &out)
		img := testkit.Expect(t, env.Get(out.URL, ""), http.StatusOK)
		if img.Header.Get("Content-Type") != "image/png" || !bytes.HasPrefix(img.Body, []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("captcha image: %s, %d bytes", img.Header.Get("Content-Type"), len(img.Body))
		}
		answer, err := env.Server.Account.Captchas.Digits(context.Background(), out.ID)
		if err != nil {
			t.Fatal(err)
		}
		return out.ID, answer
	}
	before := env.RequestEventCount()
	r := testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin}), http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["captcha_id"] != "required" || codes["captcha_answer"] != "required" {
		t.Fatalf("no captcha: %s", r.Body)
	}
	id, answer := captcha()
	wrong := "000000"
	if answer == wrong {
		wrong = "111111"
	}
	r = testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin, "captcha_id": id, "captcha_answer": wrong}), http.StatusBadRequest)
	if r.FieldCodes(t)["captcha_answer"] != "invalid" {
		t.Fatalf("wrong answer: %s", r.Body)
	}
	// Checked once, even when wrong: the right answer no longer works.
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin, "captcha_id": id, "captcha_answer": answer}), http.StatusBadRequest)
	testkit.Expect(t, env.Get("/api/v1/captchas/"+id+".png", ""), http.StatusNotFound)
	if env.RequestEventCount() != before {
		t.Fatal("refused requests wrote events")
	}
	id, answer = captcha()
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin, "captcha_id": id, "captcha_answer": answer}), http.StatusAccepted)
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin, "captcha_id": id, "captcha_answer": answer}), http.StatusBadRequest)
	id, answer = captcha()
	testkit.Expect(t, env.Post("/api/v1/login-reminders", "", map[string]string{"email": "x@example.com", "captcha_id": id, "captcha_answer": answer}), http.StatusAccepted)
}

func TestBruteForceSignInIsThrottled(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("C")
	for _, login := range []string{c.ReferentLogin, "nobody.at.all"} {
		for i := range 5 {
			r := env.Post("/api/v1/sessions", "", map[string]string{"login": login, "password": fmt.Sprintf("Guess.%d-pass", i)})
			testkit.Expect(t, r, http.StatusUnauthorized)
		}
		r := testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": login, "password": testkit.Password}), http.StatusTooManyRequests)
		if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Fatalf("%s: Retry-After = %q", login, ra)
		}
	}
	clk.Advance(15 * time.Minute)
	env.SignIn(c.ReferentLogin, testkit.Password)
	// A success clears the login's count.
	for range 4 {
		testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": c.ReferentLogin, "password": "Wrong.pass-1"}), http.StatusUnauthorized)
	}
	env.SignIn(c.ReferentLogin, testkit.Password)
	for range 4 {
		testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": c.ReferentLogin, "password": "Wrong.pass-1"}), http.StatusUnauthorized)
	}
	env.SignIn(c.ReferentLogin, testkit.Password)

	// Many logins tried from one address: the address is throttled too.
	clk.Advance(15 * time.Minute)
	var last *testkit.Response
	for i := range 31 {
		last = env.Post("/api/v1/sessions", "", map[string]string{"login": fmt.Sprintf("someone.%02d", i), "password": "Guess.1-pass"})
	}
	testkit.Expect(t, last, http.StatusTooManyRequests)
}

// Guessing the current password on the change-password form counts as
// failed sign-ins: after five, even the right one is refused for a while,
// and sign-in is throttled too.
func TestGuessingTheCurrentPasswordIsThrottled(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("C")
	const next = "Nouveau.Mdp-2026"
	change := func(current string) *testkit.Response {
		return env.Put("/api/v1/me/password", c.ReferentToken, map[string]string{
			"current_password": current, "new_password": next, "confirm_password": next})
	}
	for i := range 5 {
		testkit.Expect(t, change(fmt.Sprintf("Guess.%d-pass", i)), http.StatusForbidden)
	}
	r := testkit.Expect(t, change(testkit.Password), http.StatusTooManyRequests)
	if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
		t.Fatalf("Retry-After = %q", ra)
	}
	testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": c.ReferentLogin, "password": testkit.Password}), http.StatusTooManyRequests)

	clk.Advance(15 * time.Minute)
	testkit.Expect(t, change(testkit.Password), http.StatusOK)
	env.SignIn(c.ReferentLogin, next)
}

func TestAccountWritesRefuseBadInputAndWriteNothing(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("C")
	tok := c.ReferentToken
	before := env.RequestEventCount()
	cases := []struct {
		method, path string
		body         any
		fields       []string
	}{
		{"POST", "/api/v1/password-requests", map[string]any{}, []string{"login"}},
		{"POST", "/api/v1/password-requests", map[string]any{"login": 12}, []string{"login"}},
		{"POST", "/api/v1/password-resets", map[string]any{}, []string{"token"}},
		{"POST", "/api/v1/login-reminders", map[string]any{"email": "not-an-email"}, []string{"email"}},
		{"POST", "/api/v1/login-reminders", map[string]any{}, []string{"email"}},
		{"PATCH", "/api/v1/me", map[string]any{"phone": "", "mobile": ""}, []string{"phone"}},
		{"PATCH", "/api/v1/me", map[string]any{"civility": "dr", "language": "de", "email": "x", "last_name": ""}, []string{"civility", "language", "email", "last_name"}},
		{"PATCH", "/api/v1/me", map[string]any{"login": "another.login"}, []string{"login"}},
		{"PATCH", "/api/v1/me", map[string]any{"mobile": "call me"}, []string{"mobile"}},
		{"PUT", "/api/v1/me/password", map[string]any{}, []string{"current_password", "new_password"}},
		{"PUT", "/api/v1/me/password", map[string]any{"current_password": testkit.Password, "new_password": "password", "confirm_password": "x"},
			[]string{"new_password", "confirm_password"}},
		{"PUT", "/api/v1/me/password", map[string]any{"current_password": testkit.Password, "new_password": testkit.Password, "confirm_password": testkit.Password},
			[]string{"new_password"}},
	}
	for _, tc := range cases {
		r := env.Do(testkit.Request{Method: tc.method, Path: tc.path, Token: tok, Body: tc.body})
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s %s %v: got %s, want 400", tc.method, tc.path, tc.body, r)
			continue
		}
		codes := r.FieldCodes(t)
		for _, f := range tc.fields {
			if codes[f] == "" {
				t.Errorf("%s %s %v: no error on %s: %s", tc.method, tc.path, tc.body, f, r.Body)
			}
		}
	}
	for _, path := range []string{"/api/v1/password-requests", "/api/v1/password-resets", "/api/v1/login-reminders"} {
		for _, bad := range []string{`{`, `[]`, ``} {
			if r := env.Do(testkit.Request{Method: "POST", Path: path, Body: bad}); r.Status != http.StatusBadRequest {
				t.Errorf("POST %s %q: got %s", path, bad, r)
			}
		}
	}
	for _, bad := range []string{`{`, `[]`, `{"email": 3}`} {
		if r := env.Do(testkit.Request{Method: "PATCH", Path: "/api/v1/me", Token: tok, Body: bad}); r.Status != http.StatusBadRequest {
			t.Errorf("PATCH /me %q: got %s", bad, r)
		}
		if r := env.Do(testkit.Request{Method: "PUT", Path: "/api/v1/me/password", Token: tok, Body: bad}); r.Status != http.StatusBadRequest {
			t.Errorf("PUT /me/password %q: got %s", bad, r)
		}
	}
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("refused requests wrote %d events", after-before)
	}
	testkit.Expect(t, env.Get("/api/v1/me", ""), http.StatusUnauthorized)
	testkit.Expect(t, env.Patch("/api/v1/me", testkit.AdminToken, map[string]any{}), http.StatusForbidden)
}
