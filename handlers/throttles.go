package handlers

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"selfcare/commands"
)

// limit is one row of the throttle table: a token bucket per client
// address, of Burst requests refilled one every Every.
type limit struct {
	Burst int
	Every time.Duration
}

// throttles is THE throttle table: every endpoint that computes a password
// hash (argon2id: 19 MiB and 150 ms each) or draws a captcha, and how often
// one client address may call it. It is checked first, before the rights
// and before anything that costs, and answers 429 with Retry-After.
// TestThrottleTable walks every row. The business throttles that count
// failures across processes (sign-in guesses, emailed codes) are in
// commands; these only bound the work one address can make this process do.
var throttles = map[string]limit{
	"POST /api/v1/sessions":                            {Burst: 60, Every: time.Second},
	"PUT /api/v1/me/password":                          {Burst: 20, Every: 3 * time.Second},
	"POST /api/v1/password-resets":                     {Burst: 20, Every: 3 * time.Second},
	"PUT /api/v1/contracts/{cid}/console/api-password": {Burst: 30, Every: 2 * time.Second},
	"POST /api/v1/contracts/{cid}/console/access-keys": {Burst: 30, Every: 2 * time.Second},
	"POST /api/v1/captchas":                            {Burst: 20, Every: 3 * time.Second},
}

// addressLimiters are the token buckets of one throttle row, by address.
type addressLimiters struct {
	limit limit
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

// maxTrackedAddresses bounds the memory of a row: past it, buckets that
// are full again (their address has been quiet) are forgotten.
const maxTrackedAddresses = 10000

func (a *addressLimiters) allow(ip string, now time.Time) (retry time.Duration, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	l, found := a.m[ip]
	if !found {
		if len(a.m) >= maxTrackedAddresses {
			for k, v := range a.m {
				if v.TokensAt(now) >= float64(a.limit.Burst) {
					delete(a.m, k)
				}
			}
		}
		l = rate.NewLimiter(rate.Every(a.limit.Every), a.limit.Burst)
		a.m[ip] = l
	}
	if l.AllowN(now, 1) {
		return 0, true
	}
	r := l.ReserveN(now, 1)
	retry = r.DelayFrom(now)
	r.CancelAt(now)
	return max(retry.Round(time.Second), time.Second), false
}

// throttled puts endpoint's row of the throttle table, if it has one, in
// front of h.
func (s *Server) throttled(endpoint string, h http.Handler) http.Handler {
	l, ok := throttles[endpoint]
	if !ok || s.deps.RateLimitsDisabled {
		return h
	}
	limiters := &addressLimiters{limit: l, m: map[string]*rate.Limiter{}}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retry, ok := limiters.allow(clientIP(r), time.Now()); !ok {
			fail(w, r, &commands.ThrottledError{RetryAfter: retry})
			return
		}
		h.ServeHTTP(w, r)
	})
}
