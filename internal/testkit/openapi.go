package testkit

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"selfcare/handlers"
	"selfcare/internal/auth"
	"selfcare/internal/server"
)

// CheckOpenAPI makes the test server validate every request and response
// going through it against the served OpenAPI document
// (handlers/openapi.json), and fail the test at cleanup, listing each
// mismatch with its method, path, status and what does not match:
//
//	env := testkit.New(t, testkit.CheckOpenAPI())
//
// It reports:
//   - a response whose status the operation does not document, whose
//     Content-Type is not one of the documented ones, whose body does not
//     match the documented schema, or that lacks a required header;
//   - a request the document says is invalid (a missing required field, a
//     wrong type or enum value, a token of a kind the operation does not
//     list...) that the server nevertheless accepted (status below 400).
//     Refusing a request the document allows is not reported: the document
//     cannot state every rule;
//   - a /api/ path or method missing from the document that the server
//     answered below 400.
//
// Setting SELFCARE_TEST_OPENAPI=1 turns the check on for every test server.
func CheckOpenAPI() Option {
	return func(o *server.Options) { wrapWith(o, openAPICheck) }
}

var openAPICheck = handlerWrapper{name: "openapi", wrap: checkOpenAPI}

func checkOpenAPI(t testing.TB, o *server.Options, h http.Handler) http.Handler {
	c, err := NewOpenAPIChecker(h, o.Config.AdminToken, o.Config.AuditorToken)
	if err != nil {
		t.Fatalf("openapi check: %v", err)
	}
	if pool := o.Pool; pool != nil {
		// Named operators' and auditors' tokens (selfcare operators).
		c.operatorKind = func(ctx context.Context, token string) string {
			var role string
			if err := pool.QueryRow(ctx, `SELECT role FROM operator_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
				auth.HashToken(token)).Scan(&role); err != nil {
				return ""
			}
			return map[string]string{"admin": "backOffice", "auditor": "auditor"}[role]
		}
	}
	t.Cleanup(func() {
		if vs := c.Violations(); len(vs) > 0 {
			t.Errorf("%d exchange(s) with the test server do not match handlers/openapi.json:\n%s",
				len(vs), strings.Join(vs, "\n"))
		}
	})
	return c
}

// loadOpenAPI parses and validates the served document once per process.
var loadOpenAPI = sync.OnceValues(func() (routers.Router, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(handlers.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load handlers/openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("handlers/openapi.json is not a valid OpenAPI document: %w", err)
	}
	return gorillamux.NewRouter(doc)
})

// OpenAPIChecker is an http.Handler that passes every exchange to the
// handler it wraps and validates it against the OpenAPI document; see
// CheckOpenAPI, which is how tests use it.
type OpenAPIChecker struct {
	next         http.Handler
	router       routers.Router
	adminToken   string
	auditorToken string
	// operatorKind, if set, names the scheme of a named operator's token
	// ("" for none).
	operatorKind func(ctx context.Context, token string) string

	mu         sync.Mutex
	violations map[string]*violation // by message
	order      []string
}

// violation is one kind of mismatch: the same message, seen n times; body
// is the response body of the first time, when it helps.
type violation struct {
	n    int
	body string
}

// NewOpenAPIChecker wraps next. The tokens tell the back-office and auditor
// bearer tokens from user sessions, to check each operation's security.
func NewOpenAPIChecker(next http.Handler, adminToken, auditorToken string) (*OpenAPIChecker, error) {
	router, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	return &OpenAPIChecker{
		next: next, router: router, adminToken: adminToken, auditorToken: auditorToken,
		violations: map[string]*violation{},
	}, nil
}

// Violations lists the mismatches seen so far, in the order first seen,
// each with how many times it happened when more than once.
func (c *OpenAPIChecker) Violations() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.order))
	for i, msg := range c.order {
		v := c.violations[msg]
		out[i] = msg
		if v.n > 1 {
			out[i] += fmt.Sprintf(" (%d times)", v.n)
		}
		if v.body != "" {
			out[i] += "; body: " + v.body
		}
	}
	return out
}

// report records a mismatch of the exchange of r; body, if not nil, is the
// response body to quote.
func (c *OpenAPIChecker) report(r *http.Request, status int, body []byte, format string, args ...any) {
	msg := fmt.Sprintf("  %s %s → %d: %s", r.Method, r.URL.RequestURI(), status, fmt.Sprintf(format, args...))
	c.mu.Lock()
	defer c.mu.Unlock()
	v := c.violations[msg]
	if v == nil {
		v = &violation{}
		if body != nil {
			v.body = snippet(body)
		}
		c.violations[msg] = v
		c.order = append(c.order, msg)
	}
	v.n++
}

// ServeHTTP serves the request with the wrapped handler, then checks the
// exchange.
func (c *OpenAPIChecker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, "openapi check: read the request body: "+err.Error(), http.StatusBadRequest)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	rec := &recordingWriter{ResponseWriter: w}
	c.next.ServeHTTP(rec, r)
	if r.Context().Err() != nil {
		// The client left before the answer (a long poll given up, a
		// killed consumer): nothing was delivered, nothing to check.
		return
	}
	c.check(r, body, rec.result())
}

func (c *OpenAPIChecker) check(r *http.Request, reqBody []byte, resp recorded) {
	if r.Method == http.MethodHead || r.Method == http.MethodOptions {
		return
	}
	req := r.Clone(context.Background())
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(reqBody)), nil }
	req.ContentLength = int64(len(reqBody))
	route, pathParams, err := c.router.FindRoute(req)
	if err != nil {
		if resp.status < 400 && strings.HasPrefix(r.URL.Path, "/api/") {
			c.report(r, resp.status, nil, "the document has no such operation (%v), yet the server answered it", err)
		}
		return
	}
	ctx := context.Background()
	reqOpts := &openapi3filter.Options{
		AuthenticationFunc:  c.authenticate,
		MultiError:          true,
		SkipSettingDefaults: true,
	}
	reqOpts.WithCustomSchemaErrorFunc(schemaMessage)
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams, Route: route, Options: reqOpts}
	if err := openapi3filter.ValidateRequest(ctx, in); err != nil && resp.status < 400 {
		c.report(r, resp.status, nil, "accepted a request the document says is invalid: %s", describe(err))
	}
	respOpts := &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}
	respOpts.WithCustomSchemaErrorFunc(schemaMessage)
	out := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: in,
		Status:                 resp.status,
		Header:                 resp.header,
		Options:                respOpts,
	}
	out.SetBodyBytes(resp.body)
	if err := openapi3filter.ValidateResponse(ctx, out); err != nil {
		c.report(r, resp.status, append([]byte{}, resp.body...), "response does not match operation %s: %s",
			route.Operation.OperationID, describe(err))
	}
}

// authenticate tells which kind of bearer token the request carries, and
// whether the security scheme being checked is that kind.
func (c *OpenAPIChecker) authenticate(ctx context.Context, in *openapi3filter.AuthenticationInput) error {
	h := in.RequestValidationInput.Request.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	if !strings.EqualFold(scheme, "Bearer") || token == "" {
		return in.NewError(fmt.Errorf("no bearer token for security scheme %q", in.SecuritySchemeName))
	}
	kind := "session"
	switch token {
	case c.adminToken:
		kind = "backOffice"
	case c.auditorToken:
		kind = "auditor"
	}
	// Only a token checked against another scheme than a session's may be
	// a named operator's: ask the database then, not on every request.
	if kind == "session" && in.SecuritySchemeName != kind && c.operatorKind != nil {
		if k := c.operatorKind(ctx, token); k != "" {
			kind = k
		}
	}
	if kind != in.SecuritySchemeName {
		return in.NewError(fmt.Errorf("a bearer token of security scheme %q, not %q", kind, in.SecuritySchemeName))
	}
	return nil
}

// schemaMessage words a schema error as where it is and what is wrong,
// without dumping the schema (the document is at hand) nor the value (the
// body is quoted once, after the errors).
func schemaMessage(err *openapi3.SchemaError) string {
	reason := err.Reason
	if err.Origin != nil {
		reason = err.Origin.Error()
	}
	if reason == "" {
		reason = "does not match " + err.SchemaField
	}
	if p := err.JSONPointer(); len(p) > 0 {
		return "at /" + strings.Join(p, "/") + ": " + reason
	}
	return reason
}

// describe flattens kin-openapi's errors into one line per problem.
func describe(err error) string {
	// Only the top level: errors.As would dig through a RequestError to
	// its schema errors and lose the parameter's name.
	if me, ok := err.(openapi3.MultiError); ok {
		parts := make([]string, 0, len(me))
		for _, e := range me {
			parts = append(parts, describe(e))
		}
		sort.Strings(parts)
		return strings.Join(parts, "; ")
	}
	if sre, ok := err.(*openapi3filter.SecurityRequirementsError); ok {
		parts := make([]string, 0, len(sre.Errors))
		for _, e := range sre.Errors {
			parts = append(parts, describe(e))
		}
		return "security: " + strings.Join(parts, "; ")
	}
	if re, ok := err.(*openapi3filter.ResponseError); ok && re.Reason == "status is not supported" {
		return fmt.Sprintf("the operation does not document status %d", re.Input.Status)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}

func snippet(b []byte) string {
	const max = 400
	s := strings.Join(strings.Fields(string(b)), " ")
	if s == "" {
		return "(empty)"
	}
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}

// recordingWriter passes a response through while keeping a copy of its
// status, headers (as sent) and body.
type recordingWriter struct {
	http.ResponseWriter
	status int
	header http.Header
	body   bytes.Buffer
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
		w.header = w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

// Flush lets long polls and streams through.
func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

type recorded struct {
	status int
	header http.Header
	body   []byte
}

func (w *recordingWriter) result() recorded {
	if w.status == 0 { // the handler wrote nothing: net/http sends 200
		w.status = http.StatusOK
		w.header = w.ResponseWriter.Header().Clone()
	}
	return recorded{status: w.status, header: w.header, body: w.body.Bytes()}
}
