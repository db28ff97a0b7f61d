package handlers_test

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"selfcare/commands"
	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

// mailedCode returns the verification code of the next email to addr: its
// only 6-digit number, in the decoded text and in the raw body alike.
func mailedCode(t *testing.T, smtp *testkit.SMTPServer, addr string) string {
	t.Helper()
	code, m := smtp.NextCode(t, addr)
	_, rawBody, _ := strings.Cut(strings.ReplaceAll(m.Raw, "\r\n", "\n"), "\n\n")
	if raw := codeRE.FindAllString(rawBody, -1); len(raw) != 1 || raw[0] != code {
		t.Fatalf("the raw body of the verification email has %v as 6-digit numbers, want only %s:\n%s", raw, code, m.Raw)
	}
	return code
}

func TestAConsoleUserGetsAPIPasswordAndAccessKeys(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC))
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp), testkit.WithClock(clk))
	c := env.NewContract("SL_Prod")
	email := c.ReferentLogin + "@example.com"
	base := "/api/v1/contracts/" + c.ID + "/console"

	// Without a console role: no console access.
	testkit.Expect(t, env.Post(base+"/sso", c.ReferentToken, nil), http.StatusForbidden)
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusForbidden)

	env.GrantConsoleRoles(c.ID, c.ReferentLogin, "admin", "guest")
	consoleMail := smtp.NextMatching(t, email, func(m testkit.Mail) bool { return strings.Contains(m.Subject, "console") })
	if consoleMail.Subject != "Your access to the Flexible Engine console" || !strings.Contains(consoleMail.Text, "Company account: "+c.ID) ||
		!strings.Contains(consoleMail.Text, "Your login: "+c.ReferentLogin) || !strings.Contains(consoleMail.Text, email) {
		t.Fatalf("console access email: %q\n%s", consoleMail.Subject, consoleMail.Text)
	}

	// API password: the form is checked before the code is spent.
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	code := mailedCode(t, smtp, email)
	const apiPassword = "Api.Password-2026"
	before := env.RequestEventCount()
	r := testkit.Expect(t, env.Put(base+"/api-password", c.ReferentToken, map[string]string{
		"email": "someone@else.com", "company_account": "OCB9999999", "new_password": "weak", "confirm_password": "weaker", "verification_code": code}),
		http.StatusBadRequest)
	codes := r.FieldCodes(t)
	for _, f := range []string{"email", "company_account", "new_password", "confirm_password"} {
		if codes[f] == "" {
			t.Errorf("no error on %s: %s", f, r.Body)
		}
	}
	r = testkit.Expect(t, env.Put(base+"/api-password", c.ReferentToken, map[string]string{}), http.StatusBadRequest)
	if r.FieldCodes(t)["verification_code"] != "required" {
		t.Errorf("no code: %s", r.Body)
	}
	r = testkit.Expect(t, env.Post(base+"/access-keys", c.ReferentToken, map[string]string{}), http.StatusBadRequest)
	if codes := r.FieldCodes(t); codes["api_password"] != "required" || codes["verification_code"] != "required" {
		t.Errorf("empty access key request: %s", r.Body)
	}
	for _, bad := range []string{`{`, `[]`, `{"verification_code": 123456, "api_password": 1, "captcha_id": 2}`} {
		for _, req := range []testkit.Request{
			{Method: "PUT", Path: base + "/api-password", Body: bad},
			{Method: "POST", Path: base + "/access-keys", Body: bad},
			{Method: "POST", Path: base + "/verification-codes", Body: bad},
		} {
			req.Token = c.ReferentToken
			if r := env.Do(req); r.Status != http.StatusBadRequest {
				t.Errorf("%s %s %q: got %s", req.Method, req.Path, bad, r)
			}
		}
	}
	if env.RequestEventCount() != before {
		t.Fatal("refused requests wrote events")
	}
	wrong := "000000"
	if code == wrong {
		wrong = "000001"
	}
	r = testkit.Expect(t, env.Put(base+"/api-password", c.ReferentToken, map[string]string{
		"email": strings.ToUpper(email), "new_password": apiPassword, "confirm_password": apiPassword, "verification_code": wrong}), http.StatusBadRequest)
	if r.FieldCodes(t)["verification_code"] != "invalid" {
		t.Fatalf("wrong code: %s", r.Body)
	}
	// The API password's state says it is not set yet.
	var state map[string]any
	testkit.Expect(t, env.Get(base+"/api-password", c.ReferentToken), http.StatusOK).JSON(t, &state)
	if state["set"] != false || state["set_at"] != nil {
		t.Fatalf("API password state before it is set: %v", state)
	}
	// No access key before the API password (the pending code is not spent).
	r = testkit.Expect(t, env.Post(base+"/access-keys", c.ReferentToken, map[string]string{"api_password": apiPassword, "verification_code": code}), http.StatusConflict)
	if r.FieldCodes(t)["api_password"] != "not_set" {
		t.Fatalf("a key before the API password: %s", r.Body)
	}
	testkit.Expect(t, env.Put(base+"/api-password", c.ReferentToken, map[string]string{
		"email": email, "company_account": c.ID, "new_password": apiPassword, "confirm_password": apiPassword, "verification_code": code}), http.StatusNoContent)
	testkit.Expect(t, env.Put(base+"/api-password", c.ReferentToken, map[string]string{
		"email": email, "new_password": apiPassword, "confirm_password": apiPassword, "verification_code": code}), http.StatusGone)

	env.SettleReadModels()
	testkit.Expect(t, env.Get(base+"/api-password", c.ReferentToken), http.StatusOK).JSON(t, &state)
	if state["set"] != true || state["set_at"] == nil {
		t.Fatalf("API password state once set: %v", state)
	}

	// Access keys: two at most, each with a fresh code and the API password.
	keys := testkit.Expect(t, env.Get(base+"/access-keys", c.ReferentToken), http.StatusOK)
	if strings.TrimSpace(string(keys.Body)) != "[]" {
		t.Fatalf("keys = %s", keys.Body)
	}
	newKey := func(password string, status int) *testkit.Response {
		t.Helper()
		testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, map[string]string{}), http.StatusAccepted)
		code := mailedCode(t, smtp, email)
		return testkit.Expect(t, env.Post(base+"/access-keys", c.ReferentToken, map[string]string{"api_password": password, "verification_code": code}), status)
	}
	newKey("Wrong.Api-pass1", http.StatusForbidden)
	k1 := newKey(apiPassword, http.StatusCreated).Map(t)
	k2 := newKey(apiPassword, http.StatusCreated).Map(t)
	for _, k := range []map[string]any{k1, k2} {
		id, _ := k["access_key_id"].(string)
		secret, _ := k["secret_access_key"].(string)
		if len(id) != 20 || len(secret) != 40 {
			t.Fatalf("key = %v", k)
		}
		stored, err := env.Server.Account.Credentials.SecretOf(context.Background(), id)
		if err != nil || stored != secret {
			t.Fatalf("sealed secret of %s: %q, %v", id, stored, err)
		}
	}
	if codes := newKey(apiPassword, http.StatusConflict).FieldCodes(t); codes["access_keys"] != "limit_reached" {
		t.Fatalf("a third key: %v", codes)
	}
	var listed []map[string]any
	testkit.Expect(t, env.Get(base+"/access-keys", c.ReferentToken), http.StatusOK).JSON(t, &listed)
	if len(listed) != 2 || listed[0]["access_key_id"] != k1["access_key_id"] || listed[0]["status"] != "active" || listed[0]["created_at"] == nil {
		t.Fatalf("listed keys = %v", listed)
	}
	for _, l := range listed {
		if _, shown := l["secret_access_key"]; shown {
			t.Fatal("a listed key shows its secret")
		}
	}
	testkit.Expect(t, env.Delete(base+"/access-keys/"+k1["access_key_id"].(string), c.ReferentToken), http.StatusNoContent)
	testkit.Expect(t, env.Delete(base+"/access-keys/"+k1["access_key_id"].(string), c.ReferentToken), http.StatusNotFound)
	testkit.Expect(t, env.Get(base+"/access-keys", c.ReferentToken), http.StatusOK).JSON(t, &listed)
	if len(listed) != 1 || listed[0]["access_key_id"] != k2["access_key_id"] {
		t.Fatalf("after delete: %v", listed)
	}

	// A code expires after 60 s; a new code voids the previous one.
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	stale := mailedCode(t, smtp, email)
	clk.Advance(61 * time.Second)
	testkit.Expect(t, env.Post(base+"/access-keys", c.ReferentToken, map[string]string{"api_password": apiPassword, "verification_code": stale}), http.StatusGone)
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	voided := mailedCode(t, smtp, email)
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	latest := mailedCode(t, smtp, email)
	if voided != latest {
		testkit.Expect(t, env.Post(base+"/access-keys", c.ReferentToken, map[string]string{"api_password": apiPassword, "verification_code": voided}), http.StatusBadRequest)
	}
	// Its secret is shown once: a retry with the same Idempotency-Key is
	// told the key exists (409), and no copy of the response is kept.
	create := testkit.Request{Method: "POST", Path: base + "/access-keys", Token: c.ReferentToken,
		Body: map[string]string{"api_password": apiPassword, "verification_code": latest}, Header: map[string]string{"Idempotency-Key": "create-key-3"}}
	k3 := testkit.Expect(t, env.Do(create), http.StatusCreated).Map(t)
	testkit.Expect(t, env.Do(create), http.StatusConflict)
	var kept int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys WHERE body IS NOT NULL AND position($1::bytea IN body) > 0`,
		[]byte(k3["secret_access_key"].(string))).Scan(&kept); err != nil {
		t.Fatal(err)
	}
	if kept != 0 {
		t.Fatal("the idempotency store kept a secret access key")
	}

	// No event holds a secret.
	var leaks int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events WHERE data::text LIKE ANY ($1)`,
		[]string{"%" + apiPassword + "%", "%" + k1["secret_access_key"].(string) + "%", "%" + k2["secret_access_key"].(string) + "%", "%\"" + latest + "\"%"}).Scan(&leaks); err != nil {
		t.Fatal(err)
	}
	if leaks != 0 {
		t.Fatalf("%d events hold a secret", leaks)
	}

	// Codes are throttled per console account: 10 in 15 minutes (8 sent).
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	r = testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusTooManyRequests)
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}

	// Deprovisioning the console account revokes its credentials.
	env.GrantConsoleRoles(c.ID, c.ReferentLogin)
	testkit.Expect(t, env.Get(base+"/access-keys", c.ReferentToken), http.StatusForbidden)
	deadline := time.Now().Add(10 * time.Second)
	for {
		var secrets, passwords, deleted int
		err := env.Pool.QueryRow(context.Background(), `
SELECT (SELECT count(*) FROM access_key_secrets WHERE contract_id = $1),
       (SELECT count(*) FROM api_passwords WHERE contract_id = $1),
       (SELECT count(*) FROM events WHERE event_type IN ('AccessKeyDeleted', 'ApiPasswordRemoved') AND data->>'reason' IS DISTINCT FROM 'deleted' AND data->>'contract_id' = $1)`,
			c.ID).Scan(&secrets, &passwords, &deleted)
		if err != nil {
			t.Fatal(err)
		}
		if secrets == 0 && passwords == 0 && deleted == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after deprovisioning: %d secrets, %d API passwords, %d revocation events", secrets, passwords, deleted)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestConsoleSSOGivesASignedShortLivedAssertion(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	env := testkit.New(t, testkit.WithClock(clock.NewManual(now)))
	c := env.NewContract("SL_Prod")
	env.GrantConsoleRoles(c.ID, c.ReferentLogin, "power_user")
	contract := testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID, c.ReferentToken), http.StatusOK).Map(t)

	r := testkit.Expect(t, env.Post("/api/v1/contracts/"+c.ID+"/console/sso", c.ReferentToken, nil), http.StatusOK)
	var out struct {
		RedirectURL string `json:"redirect_url"`
		Assertion   string `json:"assertion"`
		ExpiresAt   string `json:"expires_at"`
	}
	r.JSON(t, &out)
	u, err := url.Parse(out.RedirectURL)
	if err != nil || u.Scheme != "https" || u.Host != "console.prod-cloud-ocb.orange-business.com" ||
		u.Query().Get("assertion") != out.Assertion || u.Query().Get("domain_id") != contract["platform_id"] {
		t.Fatalf("redirect URL %q", out.RedirectURL)
	}
	tok, err := jwt.ParseSigned(out.Assertion, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var claims commands.SSOClaims
	pub := env.Server.Keys.SigningKey(commands.SSOSigningPurpose).Public().(ed25519.PublicKey)
	if err := tok.Claims(pub, &claims); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{commands.SSOAudience}, Subject: c.ReferentLogin, Time: now.Add(59 * time.Second)}, 0); err != nil {
		t.Fatalf("claims: %v", err)
	}
	if claims.Expiry.Time().Sub(claims.IssuedAt.Time()) > time.Minute || claims.Expiry.Time().Before(now.Add(30*time.Second)) {
		t.Errorf("lifetime %v", claims.Expiry.Time().Sub(claims.IssuedAt.Time()))
	}
	if err := claims.ValidateWithLeeway(jwt.Expected{Time: now.Add(61 * time.Second)}, 0); err == nil {
		t.Error("an assertion older than 60 s is still valid")
	}
	if claims.DomainID != contract["platform_id"] || claims.ContractID != c.ID || len(claims.Roles) != 1 || claims.Roles[0] != "power_user" || claims.ID == "" {
		t.Errorf("claims = %+v", claims)
	}
	other := env.SignInNew(c.ReferentLogin)
	r2 := testkit.Expect(t, env.Post("/api/v1/contracts/"+c.ID+"/console/sso", other, nil), http.StatusOK)
	if r2.Map(t)["assertion"] == out.Assertion {
		t.Error("two assertions are the same (jti must be unique)")
	}
	tampered := out.Assertion[:len(out.Assertion)-4] + "AAAA"
	if tok, err := jwt.ParseSigned(tampered, []jose.SignatureAlgorithm{jose.EdDSA}); err == nil && tok.Claims(pub, &claims) == nil {
		t.Error("a tampered assertion verifies")
	}
}
