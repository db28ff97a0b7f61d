package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"

	"selfcare/domain"
)

type ctxKey int

const (
	keyRequestID ctxKey = iota
	keyLogger
	keyPrincipal
	keyMember
)

func requestID(ctx context.Context) string {
	id, _ := ctx.Value(keyRequestID).(string)
	return id
}

func loggerFrom(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(keyLogger).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

func newRequestID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// withRequestID gives every request an id (the client's X-Request-Id if it
// looks sane), echoed in the response and present in every log line.
func withRequestID(logger *slog.Logger) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-Id")
			if len(id) < 8 || len(id) > 64 || strings.ContainsFunc(id, func(c rune) bool { return c <= ' ' || c > '~' }) {
				id = newRequestID()
			}
			w.Header().Set("X-Request-Id", id)
			ctx := context.WithValue(r.Context(), keyRequestID, id)
			ctx = context.WithValue(ctx, keyLogger, logger.With("request_id", id))
			next.ServeHTTP(w, r.WithContext(ctx))
		})
	}
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += n
	return n, err
}

func (s *statusRecorder) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Metrics are the Prometheus collectors of the HTTP layer.
type Metrics struct {
	requests *prometheus.HistogramVec
}

// NewMetrics registers the HTTP collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "selfcare_http_request_duration_seconds",
			Help:    "HTTP requests by route, method and status.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"route", "method", "status"}),
	}
	reg.MustRegister(m.requests)
	return m
}

// withAccessLog logs each request once it is done (never bodies, never the
// Authorization header) and records its duration, and turns a panic into a
// logged 500 problem.
func withAccessLog(metrics *Metrics) mux.MiddlewareFunc {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &statusRecorder{ResponseWriter: w}
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					loggerFrom(r.Context()).Error("panic", "value", v, "stack", string(debug.Stack()))
					if rec.status == 0 {
						writeProblem(rec, Problem{Type: "about:blank", Title: "internal error", Status: 500,
							Detail: "the server could not complete the request; it was logged under request id " + requestID(r.Context())})
					}
				}
				route := "unmatched"
				if cr := mux.CurrentRoute(r); cr != nil {
					if t, err := cr.GetPathTemplate(); err == nil {
						route = t
					}
				}
				d := time.Since(start)
				if metrics != nil {
					metrics.requests.WithLabelValues(route, r.Method, strconv.Itoa(rec.status)).Observe(d.Seconds())
				}
				loggerFrom(r.Context()).Info("request",
					"method", r.Method, "route", route, "path", r.URL.Path, "status", rec.status,
					"bytes", rec.bytes, "duration_ms", float64(d.Microseconds())/1000, "ip", clientIP(r))
			}()
			next.ServeHTTP(rec, r)
		})
	}
}

// withSecurityHeaders sets the headers every response should carry.
func withSecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// clientIP is the peer address of the request. X-Forwarded-For is not
// trusted: selfcare listens directly, or behind a proxy configured to
// overwrite RemoteAddr.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// withCleanInput refuses, before any handler or rights check reads them,
// request parts that are not valid UTF-8 or hold a NUL byte: PostgreSQL
// stores neither in text (SQLSTATE 22021), so letting them through turns a
// client's mistake into a 500. A path value names a resource that cannot
// exist (404); a query parameter or a header is bad input (400, naming it).
// Bodies are checked by decode.
func withCleanInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for name, value := range mux.Vars(r) {
			if !cleanText(value) {
				writeProblem(w, Problem{Type: "about:blank", Title: "not found", Status: http.StatusNotFound,
					Detail: "the path's " + name + " is not valid UTF-8 text: no such resource", Instance: strings.ToValidUTF8(r.URL.Path, "\uFFFD")})
				return
			}
		}
		var bad domain.ValidationError
		query := r.URL.Query()
		for _, name := range slices.Sorted(maps.Keys(query)) {
			if !cleanText(name) || !allClean(query[name]) {
				bad.Add(printable(name), "invalid_encoding", "the query parameter must be valid UTF-8 text without NUL bytes")
			}
		}
		for _, name := range slices.Sorted(maps.Keys(r.Header)) {
			if !allClean(r.Header[name]) {
				bad.Add(printable(name), "invalid_encoding", "the header must be valid UTF-8 text without NUL bytes")
			}
		}
		if err := bad.Err(); err != nil {
			fail(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanText reports whether s can be stored as PostgreSQL text.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

func allClean(values []string) bool {
	return !slices.ContainsFunc(values, func(v string) bool { return !cleanText(v) })
}

// printable makes s safe to echo back in a problem.
func printable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
