// Package testkit runs a whole selfcare server in a test: a fresh database
// (testdb), the same assembly as production (internal/server), its
// background workers, and an HTTP test server, plus small helpers to call
// the API and to set up a contract and a signed-in user.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/commands"
	"selfcare/domain/identity"
	"selfcare/handlers"
	"selfcare/internal/auth"
	"selfcare/internal/clock"
	"selfcare/internal/config"
	"selfcare/internal/secrets"
	"selfcare/internal/server"
	"selfcare/internal/testdb"
)

// Tokens of the back office and auditors in test servers.
const (
	AdminToken   = "test-admin-token-0123456789"
	AuditorToken = "test-auditor-token-0123456789"
)

// Env is a running test server.
type Env struct {
	T      testing.TB
	Pool   *pgxpool.Pool
	Server *server.Server
	HTTP   *httptest.Server
	URL    string
	Config config.Config
	// position is the highest X-Selfcare-Position the test's requests were
	// given, sent back as X-Selfcare-Min-Position so that the test reads
	// its own writes, as the web UI does (shared with StartAnother's envs:
	// one client of the deployment).
	position *atomic.Int64
}

// Option adjusts a test server before it starts.
type Option func(*server.Options)

// WithClock gives the server a clock (e.g. a *clock.Manual).
func WithClock(c clock.Clock) Option { return func(o *server.Options) { o.Clock = c } }

// WithConfig edits the server's configuration.
func WithConfig(f func(*config.Config)) Option { return func(o *server.Options) { f(&o.Config) } }

// New starts a server on a fresh database; it stops at test cleanup.
func New(t testing.TB, opts ...Option) *Env {
	t.Helper()
	fastHashes.Do(auth.UseFastHashesForTests)
	e := start(t, config.Config{
		AdminToken:      AdminToken,
		AuditorToken:    AuditorToken,
		DataDir:         t.TempDir(),
		CaptchaDisabled: true,
		MailFrom:        "selfcare@test.invalid",
	}, newPool(t), opts)
	t.Cleanup(e.Stop)
	return e
}

// start starts the production assembly with cfg on pool, changed by opts,
// behind a test HTTP server; the caller stops it.
func start(t testing.TB, cfg config.Config, pool *pgxpool.Pool, opts []Option) *Env {
	t.Helper()
	keys, err := secrets.FromSecret("test-secret-0123456789abcdef0123456789")
	if err != nil {
		t.Fatal(err)
	}
	o := server.Options{Config: cfg, Pool: pool, Logger: testLogger(t), Keys: keys}
	for _, opt := range opts {
		opt(&o)
	}
	srv, err := server.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(wrapHandler(t, &o, srv.Handler()))
	return &Env{T: t, Pool: pool, Server: srv, HTTP: hs, URL: hs.URL, Config: o.Config, position: new(atomic.Int64)}
}

// newPool opens a pool on a fresh database, as large as a server needs:
// its bus consumers hold a connection while they handle an event, beside
// the projections and the requests (production pools have at least 20).
func newPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	return testdb.NewWithConns(t, 12)
}

// testLogger logs to the test's output only when SELFCARE_TEST_LOG is set,
// keeping failures readable.
func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SELFCARE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// Response is an HTTP answer, read whole.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test if it is not JSON.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("response %d is not the JSON expected (%v): %s", r.Status, err, r.Body)
	}
}

// Map decodes the body as a JSON object.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// FieldCodes returns "field" → "code" of a validation problem.
func (r *Response) FieldCodes(t testing.TB) map[string]string {
	t.Helper()
	var p struct {
		Errors []struct{ Field, Code string }
	}
	r.JSON(t, &p)
	out := map[string]string{}
	for _, e := range p.Errors {
		out[e.Field] = e.Code
	}
	return out
}

func (r *Response) String() string { return fmt.Sprintf("%d %s", r.Status, r.Body) }

// Request is a call to make.
type Request struct {
	Method string
	Path   string
	Token  string
	Body   any // marshalled to JSON unless []byte or string
	Header map[string]string
}

// Do makes a request and reads the answer.
func (e *Env) Do(req Request) *Response {
	e.T.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatal(err)
		}
		body = bytes.NewReader(j)
	}
	hr, err := http.NewRequest(req.Method, e.URL+req.Path, body)
	if err != nil {
		e.T.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		hr.Header.Set("Authorization", "Bearer "+req.Token)
	}
	if pos := e.position.Load(); pos > 0 {
		hr.Header.Set(handlers.HeaderMinPosition, strconv.FormatInt(pos, 10))
	}
	for k, v := range req.Header {
		hr.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		e.T.Fatal(err)
	}
	defer resp.Body.Close()
	if pos, err := strconv.ParseInt(resp.Header.Get(handlers.HeaderPosition), 10, 64); err == nil {
		for cur := e.position.Load(); pos > cur && !e.position.CompareAndSwap(cur, pos); cur = e.position.Load() {
		}
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.T.Fatal(err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}
}

// Get, Post, Put, Patch and Delete are Do for one method.
func (e *Env) Get(path, token string) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodGet, Path: path, Token: token})
}

// Post sends body as JSON.
func (e *Env) Post(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodPost, Path: path, Token: token, Body: body})
}

// Put sends body as JSON.
func (e *Env) Put(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodPut, Path: path, Token: token, Body: body})
}

// Patch sends body as JSON.
func (e *Env) Patch(path, token string, body any) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodPatch, Path: path, Token: token, Body: body})
}

// Delete sends no body.
func (e *Env) Delete(path, token string) *Response {
	e.T.Helper()
	return e.Do(Request{Method: http.MethodDelete, Path: path, Token: token})
}

// Expect fails the test unless the response has the status.
func Expect(t testing.TB, r *Response, status int) *Response {
	t.Helper()
	if r.Status != status {
		t.Fatalf("got %s, want status %d", r, status)
	}
	return r
}

var (
	seq        atomic.Int64
	fastHashes sync.Once
)

// Unique returns a string unique in this test process, for logins and emails.
func Unique(prefix string) string {
	return fmt.Sprintf("%s%d%d", prefix, time.Now().UnixNano()%1_000_000, seq.Add(1))
}

// Person returns the person fields of a new user with a unique login and email.
func Person(login string) map[string]any {
	return map[string]any{
		"civility": "mrs", "last_name": "Dupont", "first_name": "Julie",
		"login": login, "email": login + "@example.com",
		"phone": "+33 1 23 45 67 89", "mobile": "", "language": "en",
	}
}

// ContractBody is a valid POST /admin/contracts body with the given referent.
func ContractBody(name, referentLogin string) map[string]any {
	return map[string]any{
		"name":  name,
		"offer": "Flexible Engine",
		"company": map[string]any{
			"legal_name": "ORANGE CLOUD FOR BUSINESS", "siret": "50161528000036",
			"referent_name": "Dupont Paul", "referent_email": "paul.dupont@orangecloud.com",
		},
		"invoice_contact": map[string]any{"phone": "+33 1 00 00 00 01", "email": "invoices@example.com"},
		"support_contact": map[string]any{"phone": "+33 1 00 00 00 02", "email": "support@example.com", "hours": "Mon-Fri 8:00-18:00"},
		"referent":        Person(referentLogin),
	}
}

// Contract is a contract created for a test, with its signed-in referent.
type Contract struct {
	ID            string
	ReferentLogin string
	ReferentToken string
}

// Password is the password testkit gives users it signs in.
const Password = "Selfcare-Test.2026"

// NewContract creates a contract through the back-office API, gives its
// referent a password and signs them in.
func (e *Env) NewContract(name string) Contract {
	e.T.Helper()
	login := Unique("referent.")
	r := Expect(e.T, e.Post("/api/v1/admin/contracts", AdminToken, ContractBody(name, login)), http.StatusCreated)
	var c struct {
		ID            string `json:"id"`
		ReferentLogin string `json:"referent_login"`
	}
	r.JSON(e.T, &c)
	return Contract{ID: c.ID, ReferentLogin: c.ReferentLogin, ReferentToken: e.SignInNew(c.ReferentLogin)}
}

// SignInNew gives a user who has no password yet the test password and
// signs them in. It takes the command-side shortcut instead of the mailed
// set-password link, which has tests of its own.
func (e *Env) SignInNew(login string) string {
	e.T.Helper()
	if _, err := e.Server.Sessions.SetPassword(context.Background(), login, Password, "new_password", identity.ReasonFirst); err != nil {
		e.T.Fatalf("give %s a password: %v", login, err)
	}
	return e.SignIn(login, Password)
}

// SignIn signs a user in and returns the session token.
func (e *Env) SignIn(login, password string) string {
	e.T.Helper()
	r := Expect(e.T, e.Post("/api/v1/sessions", "", map[string]string{"login": login, "password": password}), http.StatusCreated)
	var s struct {
		Token string `json:"token"`
	}
	r.JSON(e.T, &s)
	return s.Token
}

// SettleReadModels waits until every read model, the background ones (the
// audit hash chain) too, shows every event committed so far: a write's
// answer does not wait for those.
func (e *Env) SettleReadModels() {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	head, err := e.Server.Store.Head(ctx)
	if err != nil {
		e.T.Fatal(err)
	}
	if err := e.Server.Runner.WaitForAll(ctx, head); err != nil {
		e.T.Fatal(err)
	}
}

// EventCount counts the stored events.
func (e *Env) EventCount() int {
	e.T.Helper()
	var n int
	if err := e.Pool.QueryRow(context.Background(), `SELECT count(*) FROM events`).Scan(&n); err != nil {
		e.T.Fatal(err)
	}
	return n
}

// RequestEventCount counts the stored events that requests caused, to check that
// a refused command wrote nothing. The server's own events (reactions to
// earlier writes, such as the access email of a user just added; the
// scheduler's) are left out: they arrive a few milliseconds after the
// write that caused them, whenever the test happens to count.
func (e *Env) RequestEventCount() int {
	e.T.Helper()
	var n int
	err := e.Pool.QueryRow(context.Background(),
		`SELECT count(*) FROM events WHERE metadata->>'actor_kind' IS DISTINCT FROM $1`, commands.ActorSystem).Scan(&n)
	if err != nil {
		e.T.Fatal(err)
	}
	return n
}
