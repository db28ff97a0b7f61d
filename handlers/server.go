// Package handlers is selfcare's HTTP layer: it decodes requests,
// authorizes them against one rights table, calls one command or one query,
// and encodes the answer (JSON, or RFC 9457 problems for errors).
package handlers

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/gorilla/mux"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"selfcare/domain/access"
	opaccount "selfcare/domain/operator"
	"selfcare/internal/clock"
	"selfcare/projections"
)

// Sessions resolves bearer tokens of signed-in users.
type Sessions interface {
	// Resolve returns the login of the session's user; an error wrapping
	// domain.ErrUnauthenticated for an unknown, expired or revoked token.
	Resolve(ctx context.Context, token string) (login string, err error)
}

// Members tells what a user holds on a contract.
type Members interface {
	// Roles returns the user's roles on the contract and whether they are
	// its referent; found is false when the user is not declared on it.
	Roles(ctx context.Context, contractID, login string) (roles access.Roles, referent, found bool, err error)
}

// SessionMembers resolves a session and the user's standing on a contract
// in one round trip: Sessions.Resolve and Members.Roles at once, for the
// endpoints of a contract (optional: without it, two queries).
type SessionMembers interface {
	// ResolveMember returns the session's login (an error wrapping
	// domain.ErrUnauthenticated as Resolve's) and what Roles returns.
	ResolveMember(ctx context.Context, token, contractID string) (login string, roles access.Roles, referent, found bool, err error)
	// ResolveMemberAnd is ResolveMember with an endpoint's read sent in
	// the same round trip. Without an error, rows is the read's result,
	// for the caller only if it is allowed, and done must be called once
	// the request is over (it discards what is left of rows).
	ResolveMemberAnd(ctx context.Context, token, contractID string, read projections.Read) (
		login string, roles access.Roles, referent, found bool, rows pgx.Rows, done func(), err error)
}

// Operators resolves the bearer tokens of named back-office and auditor
// accounts (`selfcare operators`).
type Operators interface {
	// Resolve returns the account's name and role ("admin" or "auditor");
	// ok is false for an unknown or revoked token.
	Resolve(ctx context.Context, token string) (name string, role opaccount.Role, ok bool, err error)
}

// Deps is what the HTTP layer needs from the rest of the program.
type Deps struct {
	Logger   *slog.Logger
	Pool     *pgxpool.Pool
	Clock    clock.Clock
	Registry *prometheus.Registry
	Sessions Sessions
	Members  Members
	// SessionMembers, if set, resolves Sessions and Members in one query
	// for the endpoints of a contract.
	SessionMembers SessionMembers
	// ReadModels, if set, is waited for by a request whose client sends
	// X-Selfcare-Min-Position (see position.go); requests do not wait
	// otherwise, and commands leave read-your-writes to that contract.
	ReadModels ReadModels
	// Ready reports whether the server can serve (database, migrations,
	// read models); its detail is shown by /readyz.
	Ready func(ctx context.Context) (ok bool, detail any)
	// AdminToken and AuditorToken: empty refuses every such call. They
	// are a bootstrap: events record them as "bootstrap-admin" and
	// "bootstrap-auditor"; named accounts (Operators) record their name.
	AdminToken   string
	AuditorToken string
	// Operators, if set, resolves named operator and auditor tokens.
	Operators Operators
	// MetricsElsewhere: /metrics is served on its own address
	// (SELFCARE_METRICS_ADDR), and the public one answers 404 for it.
	MetricsElsewhere bool
	// RateLimitsDisabled turns the throttle table off (tests only).
	RateLimitsDisabled bool
	// Features registers the routes of each feature (see Routes).
	Features []Feature
}

// Feature registers a group of routes on the server.
type Feature interface {
	Routes(r *Routes)
}

// Server is the HTTP handler of selfcare.
type Server struct {
	deps    Deps
	router  *mux.Router
	metrics *Metrics
	routes  map[string]bool
}

// New builds the server and registers every route. It panics if a route
// has no row in the rights table, or a row has no route: both are
// programming errors that must not reach production.
func New(deps Deps) *Server {
	if deps.Logger == nil {
		deps.Logger = slog.Default()
	}
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	s := &Server{deps: deps, router: mux.NewRouter(), routes: map[string]bool{}}
	s.metrics = NewMetrics(deps.Registry)
	s.router.Use(withRequestID(deps.Logger), withAccessLog(s.metrics), withPositions(deps.ReadModels))
	notFound := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: "about:blank", Title: "not found", Status: 404, Detail: "no such endpoint: " + r.URL.Path})
	})
	s.router.NotFoundHandler = notFound
	s.router.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, Problem{Type: "about:blank", Title: "method not allowed", Status: 405, Detail: r.Method + " is not allowed on " + r.URL.Path})
	})
	// The middleware above must also wrap the two handlers just set.
	s.router.NotFoundHandler = withRequestID(deps.Logger)(withAccessLog(s.metrics)(s.router.NotFoundHandler))
	s.router.MethodNotAllowedHandler = withRequestID(deps.Logger)(withAccessLog(s.metrics)(s.router.MethodNotAllowedHandler))

	rt := &Routes{s: s}
	rt.Handle("GET /healthz", s.healthz)
	rt.Handle("GET /readyz", s.readyz)
	if deps.MetricsElsewhere {
		rt.HandleHTTP("GET /metrics", notFound)
	} else {
		rt.HandleHTTP("GET /metrics", promhttp.HandlerFor(deps.Registry, promhttp.HandlerOpts{}))
	}
	for _, f := range deps.Features {
		f.Routes(rt)
	}
	return s
}

// ServeHTTP serves a request, through the edge checks that hold for every
// answer, the router's 404 and 405 included (see edge).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { edge(s.router).ServeHTTP(w, r) }

// MissingRoutes lists rights-table rows that no feature registered: a
// complete program has none (tests check it).
func (s *Server) MissingRoutes() []string {
	var missing []string
	for k := range rights {
		if !s.routes[k] {
			missing = append(missing, k)
		}
	}
	sort.Strings(missing)
	return missing
}

// Routes is how a feature registers its endpoints.
type Routes struct {
	s *Server
}

// Handle registers h for "METHOD /path", behind the rights table's rule
// for it and the idempotency of writes.
func (rt *Routes) Handle(endpoint string, h http.HandlerFunc) {
	rt.HandleHTTP(endpoint, h)
}

// HandleRead is Handle for a read of a contract's read model that h runs
// with projections.Run: read says which query h will run for a request
// (false when h will refuse its parameters). The authorizer sends that
// query in the same round trip as the caller's session and standing, and
// hands its rows to h only once the rights table allows the caller.
func (rt *Routes) HandleRead(endpoint string, h http.HandlerFunc, read func(r *http.Request) (projections.Read, bool)) {
	method, _, _ := strings.Cut(endpoint, " ")
	if rl := rights[endpoint]; method != http.MethodGet || rl.who != member {
		panic(fmt.Sprintf("handlers: endpoint %q: only a member's GET reads with its authorization", endpoint))
	}
	rt.register(endpoint, h, read)
}

// pageRead is HandleRead's read for a page of a contract's list, from the
// list's own builder: none for parameters the list refuses.
func pageRead(build func(cid string, params url.Values) (projections.Read, projections.ListParams, error)) func(*http.Request) (projections.Read, bool) {
	return func(r *http.Request) (projections.Read, bool) {
		read, _, err := build(mux.Vars(r)["cid"], r.URL.Query())
		return read, err == nil
	}
}

// HandleHTTP is Handle for an http.Handler.
func (rt *Routes) HandleHTTP(endpoint string, h http.Handler) {
	rt.register(endpoint, h, nil)
}

func (rt *Routes) register(endpoint string, h http.Handler, read func(r *http.Request) (projections.Read, bool)) {
	method, path, ok := strings.Cut(endpoint, " ")
	if !ok {
		panic(fmt.Sprintf("handlers: endpoint %q is not \"METHOD /path\"", endpoint))
	}
	rl, ok := rights[endpoint]
	if !ok {
		panic(fmt.Sprintf("handlers: endpoint %q has no row in the rights table", endpoint))
	}
	if rt.s.routes[endpoint] {
		panic(fmt.Sprintf("handlers: endpoint %q registered twice", endpoint))
	}
	rt.s.routes[endpoint] = true
	handler := h
	switch {
	case method == http.MethodGet, rl.who == oidcProtocol:
	case secretResponses[endpoint]:
		handler = refuseIdempotencyKey(handler)
	default:
		handler = rt.s.idempotent(handler)
	}
	methods := []string{method}
	if method == http.MethodGet {
		methods = append(methods, http.MethodHead) // net/http drops a HEAD's body
	}
	rt.s.router.NewRoute().MatcherFunc(shapeOf(path)).Path(path).Methods(methods...).
		Handler(rt.s.throttled(endpoint, rt.s.authorize(rl, read, handler)))
}

// shapeOf returns a matcher that a request passes when its path has the
// segments of pattern, the literal ones as they are: a necessary
// condition of the pattern's regular expression, and much cheaper. Tested
// first, it spares the router the expressions of the routes a path cannot
// match (most of them: it tries every route in turn).
func shapeOf(pattern string) mux.MatcherFunc {
	first := strings.IndexByte(pattern, '{')
	if first < 0 {
		return func(r *http.Request, _ *mux.RouteMatch) bool { return r.URL.Path == pattern }
	}
	// The literal text before the first variable and after the last one:
	// most paths fail on one of them at once.
	prefix, suffix := pattern[:first], pattern[strings.LastIndexByte(pattern, '}')+1:]
	segments := strings.Split(pattern, "/")
	return func(r *http.Request, _ *mux.RouteMatch) bool {
		path := r.URL.Path
		if len(path) <= len(prefix)+len(suffix) || !strings.HasSuffix(path, suffix) || !strings.HasPrefix(path, prefix) {
			return false
		}
		for i, want := range segments {
			got := path
			if i < len(segments)-1 {
				end := strings.IndexByte(path, '/')
				if end < 0 {
					return false
				}
				got, path = path[:end], path[end+1:]
			}
			if got != want && !strings.Contains(want, "{") {
				return false
			}
		}
		return true
	}
}

// Deps returns the server's dependencies (for features).
func (rt *Routes) Deps() Deps { return rt.s.deps }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if s.deps.Ready == nil {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
		return
	}
	ok, detail := s.deps.Ready(r.Context())
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, detail)
}
