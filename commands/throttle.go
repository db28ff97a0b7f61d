package commands

import (
	"context"
	"fmt"
	"time"

	"selfcare/domain/identity"
)

// Throttle limits password guesses (SPEC §4 "brute force is throttled").
// Attempts are counted in the database, so the limits hold across every
// server process, per login (typed, lower-cased: unknown logins are
// counted alike, so a 429 tells nothing about which logins exist) and per
// client address, in a fixed window. An attempt is counted before the
// password is checked, so concurrent guesses cannot exceed the limit; a
// successful one clears its login's count and does not count against its
// address, but does not clear the address's count (one's own account must
// not reset the count of guesses against others).
type Throttle struct {
	// Window is how long counts last (default 15 min).
	Window time.Duration
	// PerLogin and PerIP are the attempts allowed in a window (defaults 5
	// and 30).
	PerLogin int
	PerIP    int
}

// ThrottledError: too many attempts; retry after RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed attempts: try again in %d s", int(e.RetryAfter.Seconds()))
}

func (t Throttle) window() time.Duration {
	if t.Window <= 0 {
		return 15 * time.Minute
	}
	return t.Window
}

func (t Throttle) perLogin() int {
	if t.PerLogin <= 0 {
		return 5
	}
	return t.PerLogin
}

func (t Throttle) perIP() int {
	if t.PerIP <= 0 {
		return 30
	}
	return t.PerIP
}

// attempt counts one password attempt for login from ip, and returns a
// *ThrottledError if either is over its limit (the password must then not
// be checked). Call succeeded after a right password.
func (a *App) attempt(ctx context.Context, t Throttle, login, ip string) error {
	var retry time.Duration
	for _, k := range []struct {
		scope, key string
		limit      int
	}{{"login", throttleKey(login), t.perLogin()}, {"ip", ip, t.perIP()}} {
		if k.key == "" {
			continue
		}
		r, err := a.count(ctx, k.scope, k.key, k.limit, t.window())
		if err != nil {
			return err
		}
		retry = max(retry, r)
	}
	if retry > 0 {
		return &ThrottledError{RetryAfter: retry}
	}
	return nil
}

// count counts one attempt of scope and key in a fixed window, and returns
// how long to wait when it is over limit (0 when it is not).
func (a *App) count(ctx context.Context, scope, key string, limit int, window time.Duration) (time.Duration, error) {
	now := a.Now()
	var n int
	var start time.Time
	err := a.Store.Pool().QueryRow(ctx, `
INSERT INTO sign_in_attempts AS s (scope, key, attempts, window_start) VALUES ($1, $2, 1, $3)
ON CONFLICT (scope, key) DO UPDATE SET
    attempts     = CASE WHEN s.window_start <= $4 THEN 1 ELSE s.attempts + 1 END,
    window_start = CASE WHEN s.window_start <= $4 THEN $3 ELSE s.window_start END
RETURNING attempts, window_start`, scope, key, now, now.Add(-window)).Scan(&n, &start)
	if err != nil {
		return 0, fmt.Errorf("count %s attempt: %w", scope, err)
	}
	if n <= limit {
		return 0, nil
	}
	return max(start.Add(window).Sub(now).Round(time.Second), time.Second), nil
}

// succeeded forgets the login's attempts, and uncounts this attempt from
// the address.
func (a *App) succeeded(ctx context.Context, login, ip string) error {
	_, err := a.Store.Pool().Exec(ctx, `
WITH l AS (DELETE FROM sign_in_attempts WHERE scope = 'login' AND key = $1)
UPDATE sign_in_attempts SET attempts = attempts - 1 WHERE scope = 'ip' AND key = $2 AND attempts > 0`,
		throttleKey(login), ip)
	if err != nil {
		return fmt.Errorf("clear sign-in attempts: %w", err)
	}
	return nil
}

// throttleKey is the counted form of a typed login: lower-cased, and cut
// (logins have at most 64 characters; anything longer is a guess anyway).
func throttleKey(login string) string {
	k := identity.LoginKey(login)
	if len(k) > 128 {
		k = k[:128]
	}
	return k
}
