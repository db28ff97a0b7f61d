package handlers_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/handlers"
	"selfcare/internal/auth"
	"selfcare/internal/config"
	"selfcare/internal/testkit"
)

// clientFrom is an HTTP client whose connections leave from ip (any
// 127.x.y.z is this machine), so that the server sees another RemoteAddr.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
}

// doFrom makes req with client c, as env.Do does with the default client.
func doFrom(t *testing.T, env *testkit.Env, c *http.Client, req testkit.Request) *testkit.Response {
	t.Helper()
	var body io.Reader
	if req.Body != nil {
		b, ok := req.Body.(string)
		if !ok {
			j, err := json.Marshal(req.Body)
			if err != nil {
				t.Fatal(err)
			}
			b = string(j)
		}
		body = strings.NewReader(b)
	}
	hr, err := http.NewRequest(req.Method, env.URL+req.Path, body)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	resp, err := c.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &testkit.Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Issue 10, finding 3: 256 API-password requests with a wrong code, 64 at
// a time, once took the server from 90 MB to 1.6 GB, each hashing the new
// password before checking the code. Now a wrong code costs no hash, the
// endpoint is throttled per address, no more hashes run at once than the
// gate allows, and a sign-in still goes through meanwhile. Not parallel:
// it counts the process's hashes.
func TestWrongCodesCostNoHashAndHashesAreBounded(t *testing.T) {
	env := testkit.New(t)
	c := env.NewContract("Hashes")
	env.GrantConsoleRoles(c.ID, c.ReferentLogin, "admin")
	base := "/api/v1/contracts/" + c.ID + "/console"
	testkit.Expect(t, env.Post(base+"/verification-codes", c.ReferentToken, nil), http.StatusAccepted)
	email := c.ReferentLogin + "@example.com"
	form := map[string]string{"email": email, "company_account": c.ID,
		"new_password": "Api.Password-2026", "confirm_password": "Api.Password-2026", "verification_code": "000000"}

	before := auth.Hashes()
	const attacks, atOnce = 256, 64
	statuses := make(chan int, attacks)
	sem := make(chan struct{}, atOnce)
	var wg sync.WaitGroup
	for range attacks {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			statuses <- env.Put(base+"/api-password", c.ReferentToken, form).Status
		}()
	}
	// A normal sign-in during the attack.
	token := env.SignIn(c.ReferentLogin, testkit.Password)
	wg.Wait()
	close(statuses)
	after := auth.Hashes()

	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	for s := range count {
		if s < 400 || s >= 500 {
			t.Errorf("a wrong code was answered %d (%v)", s, count)
		}
	}
	if count[http.StatusTooManyRequests] == 0 {
		t.Errorf("256 requests from one address were never throttled: %v", count)
	}
	if token == "" {
		t.Fatal("no session during the attack")
	}
	// The one sign-in hashed once; the wrong codes not at all.
	if n := after.Done - before.Done; n != 1 {
		t.Errorf("%d hashes during the attack, want 1 (the sign-in's)", n)
	}
	if after.Peak > int64(after.Limit) {
		t.Errorf("%d hashes ran at once, beyond the bound %d", after.Peak, after.Limit)
	}
	metrics := string(testkit.Expect(t, env.Get("/metrics", ""), http.StatusOK).Body)
	for _, m := range []string{"selfcare_password_hashes_running", "selfcare_password_hashes_limit", "selfcare_password_hashes_peak", "selfcare_password_hashes_refused_total"} {
		if !strings.Contains(metrics, m+" ") {
			t.Errorf("/metrics lacks %s", m)
		}
	}
}

// hashingEndpoints are the endpoints that compute an argon2id hash: each
// must have a row in the throttle table.
var hashingEndpoints = []string{
	"POST /api/v1/sessions",
	"PUT /api/v1/me/password",
	"POST /api/v1/password-resets",
	"PUT /api/v1/contracts/{cid}/console/api-password",
	"POST /api/v1/contracts/{cid}/console/access-keys",
}

// TestThrottleTable walks every row of the throttle table: one address
// gets its burst, then 429 with Retry-After; another address is not
// affected. Every hashing endpoint and captcha creation have a row.
func TestThrottleTable(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Throttled")
	table := handlers.ThrottleTable()
	rows := handlers.RightsRows()
	for _, e := range append(hashingEndpoints, "POST /api/v1/captchas") {
		if table[e] == 0 {
			t.Errorf("%s has no row in the throttle table", e)
		}
	}
	other := clientFrom("127.0.0.3")
	row := 0
	for endpoint, burst := range table {
		row++
		from := clientFrom(fmt.Sprintf("127.0.1.%d", row)) // its own address: nothing else spent its burst
		if rows[endpoint] == "" {
			t.Errorf("%s: throttled but not in the rights table", endpoint)
			continue
		}
		method, path, _ := strings.Cut(endpoint, " ")
		path = strings.ReplaceAll(path, "{cid}", c.ID)
		// A body that is refused at once, or no token: the throttle comes
		// before anything that costs.
		req := testkit.Request{Method: method, Path: path, Body: "[]"}
		for i := range burst {
			if r := doFrom(t, env, from, req); r.Status == http.StatusTooManyRequests {
				t.Fatalf("%s: request %d of a burst of %d refused: %s", endpoint, i+1, burst, r)
			}
		}
		// Buckets refill while the burst is sent: the next few may pass.
		r := doFrom(t, env, from, req)
		for i := 0; r.Status != http.StatusTooManyRequests && i < burst; i++ {
			r = doFrom(t, env, from, req)
		}
		testkit.Expect(t, r, http.StatusTooManyRequests)
		if ra := r.Header.Get("Retry-After"); ra == "" || ra == "0" {
			t.Errorf("%s: Retry-After = %q", endpoint, ra)
		}
		if r := doFrom(t, env, other, req); r.Status == http.StatusTooManyRequests {
			t.Errorf("%s: another address is throttled too: %s", endpoint, r)
		}
	}
}

// Issue 10, finding 4: five wrong passwords from anywhere locked the login
// for everyone. Now the attacker's address is refused, the owner elsewhere
// is only asked for a captcha, and X-Forwarded-For does not move anyone.
func TestAnAttackerElsewhereCannotLockTheOwnerOut(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Locked")
	attacker := clientFrom("127.0.0.2")
	guess := func(i int) *testkit.Response {
		return doFrom(t, env, attacker, testkit.Request{Method: "POST", Path: "/api/v1/sessions",
			Body:   map[string]string{"login": c.ReferentLogin, "password": fmt.Sprintf("Guess.%d-pass", i)},
			Header: map[string]string{"X-Forwarded-For": "127.0.0.1"}})
	}
	for i := range 5 {
		testkit.Expect(t, guess(i), http.StatusUnauthorized)
	}
	for i := range 10 {
		r := testkit.Expect(t, guess(5+i), http.StatusTooManyRequests)
		if r.Header.Get("Retry-After") == "" {
			t.Fatalf("no Retry-After: %s", r)
		}
	}

	// The owner, from their own address: a captcha is asked, not a wait.
	signIn := func(body map[string]string) *testkit.Response {
		return env.Post("/api/v1/sessions", "", body)
	}
	r := testkit.Expect(t, signIn(map[string]string{"login": c.ReferentLogin, "password": testkit.Password}), http.StatusUnauthorized)
	var p struct {
		Type   string
		Errors []struct{ Field, Code string }
	}
	r.JSON(t, &p)
	if p.Type != "/problems/captcha-required" || len(p.Errors) != 1 || p.Errors[0].Field != "captcha_answer" || p.Errors[0].Code != "captcha_required" {
		t.Fatalf("past the threshold, want a captcha-required problem: %s", r)
	}
	// Captchas are disabled in tests: any answer passes, the signal stays.
	testkit.Expect(t, signIn(map[string]string{"login": c.ReferentLogin, "password": testkit.Password,
		"captcha_id": "x", "captcha_answer": "1"}), http.StatusCreated)
	// A success clears the login's counts: no captcha any more.
	testkit.Expect(t, signIn(map[string]string{"login": c.ReferentLogin, "password": testkit.Password}), http.StatusCreated)
}

// With captchas on, a sign-in past the threshold needs the right answer.
func TestPastTheThresholdSignInNeedsASolvedCaptcha(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.CaptchaDisabled = false }))
	c := env.NewContract("Captcha")
	for i, ip := range []string{"127.0.0.4", "127.0.0.5", "127.0.0.6", "127.0.0.7", "127.0.0.8"} {
		testkit.Expect(t, doFrom(t, env, clientFrom(ip), testkit.Request{Method: "POST", Path: "/api/v1/sessions",
			Body: map[string]string{"login": c.ReferentLogin, "password": fmt.Sprintf("Guess.%d-pass", i)}}), http.StatusUnauthorized)
	}
	newCaptcha := func() (id, answer string) {
		var cp struct {
			CaptchaID string `json:"captcha_id"`
		}
		testkit.Expect(t, env.Post("/api/v1/captchas", "", nil), http.StatusCreated).JSON(t, &cp)
		answer, err := env.Server.Account.Captchas.Digits(context.Background(), cp.CaptchaID)
		if err != nil {
			t.Fatal(err)
		}
		return cp.CaptchaID, answer
	}
	id, answer := newCaptcha()
	wrong := "000000"
	if answer == wrong {
		wrong = "111111"
	}
	r := testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": c.ReferentLogin, "password": testkit.Password,
		"captcha_id": id, "captcha_answer": wrong}), http.StatusUnauthorized)
	if !strings.Contains(string(r.Body), "/problems/captcha-required") || r.FieldCodes(t)["captcha_answer"] != "invalid" {
		t.Fatalf("wrong captcha answer: %s", r)
	}
	id, answer = newCaptcha()
	testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": c.ReferentLogin, "password": testkit.Password,
		"captcha_id": id, "captcha_answer": answer}), http.StatusCreated)
}

// Issue 10, finding 5: after a kill -9 during an order, the key stayed
// pending 24 h and every retry was told "still being processed". The row
// is inserted as the dead holder left it: pending, claimed by a request
// that will never finish, older than the lease.
func TestARetryAfterACrashPlacesTheOrderOnce(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Crash")
	body, err := json.Marshal(reservation("c2.xlarge", 12, false))
	if err != nil {
		t.Fatal(err)
	}
	place := func(key string) *testkit.Response {
		return env.Do(testkit.Request{Method: http.MethodPost, Path: ordersPath(c.ID), Token: c.ReferentToken,
			Body: body, Header: map[string]string{"Idempotency-Key": key}})
	}
	// The principal as the server names it, from a first order.
	testkit.Expect(t, place("learn-principal"), http.StatusCreated)
	var principal string
	ctx := context.Background()
	if err := env.Pool.QueryRow(ctx, `SELECT principal FROM idempotency_keys WHERE key = 'learn-principal'`).Scan(&principal); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", http.MethodPost, ordersPath(c.ID))
	h.Write(body)
	if _, err := env.Pool.Exec(ctx, `
INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, created_at, claim)
VALUES ($1, 'after-crash', 'POST', $2, $3, 'pending', now() - interval '1 minute', $4)`,
		principal, ordersPath(c.ID), h.Sum(nil), uuid.New()); err != nil {
		t.Fatal(err)
	}
	before := env.CountEvents("OrderPlaced")
	first := testkit.Expect(t, place("after-crash"), http.StatusCreated)
	again := testkit.Expect(t, place("after-crash"), http.StatusCreated)
	if again.Header.Get("Idempotent-Replayed") != "true" || again.Map(t)["ref"] != first.Map(t)["ref"] {
		t.Fatalf("the second retry was not the first replayed: %s vs %s", again, first)
	}
	if n := env.CountEvents("OrderPlaced") - before; n != 1 {
		t.Fatalf("%d orders placed by the retries, want 1", n)
	}

	// A live holder keeps its lease: a retry within it is told to wait.
	if _, err := env.Pool.Exec(ctx, `
INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, created_at, claim)
VALUES ($1, 'in-flight', 'POST', $2, $3, 'pending', now(), $4)`,
		principal, ordersPath(c.ID), h.Sum(nil), uuid.New()); err != nil {
		t.Fatal(err)
	}
	testkit.Expect(t, place("in-flight"), http.StatusConflict)
}

// Issue 10, finding 6: a sign-in or an SSO assertion sent with an
// Idempotency-Key was stored, token included, and replayed without the
// password. Those endpoints refuse the header and store nothing.
func TestSecretResponsesRefuseAnIdempotencyKey(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Secrets")
	env.GrantConsoleRoles(c.ID, c.ReferentLogin, "admin")
	if got := handlers.SecretResponses(); len(got) != 3 {
		t.Fatalf("secret responses: %v", got)
	}
	key := map[string]string{"Idempotency-Key": "replay-me"}
	for _, req := range []testkit.Request{
		{Method: "POST", Path: "/api/v1/sessions", Body: map[string]string{"login": c.ReferentLogin, "password": testkit.Password}, Header: key},
		{Method: "POST", Path: "/api/v1/contracts/" + c.ID + "/console/sso", Token: c.ReferentToken, Header: key},
	} {
		r := testkit.Expect(t, env.Do(req), http.StatusBadRequest)
		if r.FieldCodes(t)["Idempotency-Key"] != "not_allowed" || bytes.Contains(r.Body, []byte("token\"")) {
			t.Errorf("%s %s: %s", req.Method, req.Path, r)
		}
	}
	var n int
	if err := env.Pool.QueryRow(context.Background(), `SELECT count(*) FROM idempotency_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("%d idempotency records stored", n)
	}
	// Without the header both work.
	testkit.Expect(t, env.Post("/api/v1/contracts/"+c.ID+"/console/sso", c.ReferentToken, nil), http.StatusOK)
	env.SignIn(c.ReferentLogin, testkit.Password)
}

// Issue 10, finding 10: unknown routes and wrong methods carry the same
// security headers as every other answer.
func TestNotFoundAndMethodNotAllowedCarryTheSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	ok := env.Get("/healthz", "")
	for _, r := range []*testkit.Response{
		testkit.Expect(t, env.Get("/no/such/route", ""), http.StatusNotFound),
		testkit.Expect(t, env.Do(testkit.Request{Method: "PATCH", Path: "/healthz"}), http.StatusMethodNotAllowed),
	} {
		for _, h := range []string{"X-Content-Type-Options", "X-Frame-Options", "Referrer-Policy", "Content-Security-Policy"} {
			if r.Header.Get(h) == "" || r.Header.Get(h) != ok.Header.Get(h) {
				t.Errorf("%d: %s = %q, elsewhere %q", r.Status, h, r.Header.Get(h), ok.Header.Get(h))
			}
		}
	}
}

// HEAD works wherever GET does: same status and headers, no body.
func TestHEADWorksWhereverGETDoes(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Head")
	for _, row := range handlers.RightsTable() {
		if row.Method != http.MethodGet || row.Path == "/api/v1/events" {
			continue // the event feed long-polls; anonymous it is a 401 like the rest
		}
		path := concrete(row, c.ID)
		get, _, _ := call(t, env, http.MethodGet, path, c.ReferentToken)
		head, hh, body := call(t, env, http.MethodHead, path, c.ReferentToken)
		if head != get || len(body) != 0 || head == http.StatusMethodNotAllowed {
			t.Errorf("HEAD %s: %d with %d bytes, GET: %d", path, head, len(body), get)
		}
		if hh.Get("X-Content-Type-Options") == "" {
			t.Errorf("HEAD %s: no security headers", path)
		}
	}
}

// With SELFCARE_METRICS_ADDR, /metrics is not public: the public address
// answers 404 and the metrics handler (served on that address) has them.
func TestMetricsOnTheirOwnAddressAreNotPublic(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" }))
	testkit.Expect(t, env.Get("/metrics", ""), http.StatusNotFound)
	private := httptest.NewServer(env.Server.MetricsHandler())
	defer private.Close()
	resp, err := http.Get(private.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "selfcare_password_hashes_limit") {
		t.Fatalf("private metrics: %d %s", resp.StatusCode, b)
	}
}
