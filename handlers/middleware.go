package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"runtime/debug"
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

// edge is what every request goes through before routing, so that it
// holds for every answer, the router's own 404 and 405 included:
//   - the security headers (a UI page replaces the default
//     Content-Security-Policy with its own);
//   - text that is not valid UTF-8, or holds a NUL, never reaches the
//     database (PostgreSQL refuses it with an error that would be a 500):
//     in the path it names nothing (404), in the query or a header it is
//     bad input (400).
func edge(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		if !cleanText(r.URL.Path) {
			writeProblem(w, Problem{Type: "about:blank", Title: "not found", Status: http.StatusNotFound,
				Detail: "no such resource: the path is not valid UTF-8 text"})
			return
		}
		if p := badInput(r); p != "" {
			writeProblem(w, Problem{Type: "about:blank", Title: "bad request", Status: http.StatusBadRequest,
				Detail: p + " is not valid UTF-8 text", Errors: []domain.FieldError{{Field: p, Code: "invalid_text", Message: "not valid UTF-8 text, or holds a NUL character"}}})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// badInput names the first query parameter or header of r that is not
// clean text, "" when there is none.
func badInput(r *http.Request) string {
	query, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return "query"
	}
	for k, vs := range query {
		if !cleanText(k) {
			return "query"
		}
		for _, v := range vs {
			if !cleanText(v) {
				return k
			}
		}
	}
	for k, vs := range r.Header {
		for _, v := range vs {
			if !cleanText(v) {
				return k
			}
		}
	}
	return ""
}

// cleanText reports whether s is valid UTF-8 without NUL characters: text
// PostgreSQL accepts.
func cleanText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
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
