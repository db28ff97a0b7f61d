package commands

import (
	"context"
	"fmt"
	"time"

	"selfcare/domain"
	"selfcare/domain/identity"
)

// Throttle limits password guesses (SPEC §4 "brute force is throttled")
// without letting anyone lock an account out. Attempts are counted in the
// database, so the limits hold across every server process, in a fixed
// window, with the typed login lower-cased (unknown logins are counted
// alike, so an answer tells nothing about which logins exist):
//   - per login and client address (PerLogin): past it, that address is
//     refused (429) for that login — the owner elsewhere is not;
//   - per client address (PerIP): past it, the address is refused (429);
//   - per login from anywhere (CaptchaAfter): past it, a sign-in must come
//     with a solved captcha (ErrCaptchaRequired), which slows a distributed
//     guesser down without refusing the owner.
//
// An attempt is counted before the password is checked (and before any
// hash), so concurrent guesses cannot exceed the limits; a successful one
// clears its login's counts and does not count against its address, but
// does not clear the address's count (one's own account must not reset the
// count of guesses against others).
type Throttle struct {
	// Window is how long counts last (default 15 min).
	Window time.Duration
	// PerLogin (per login and address), PerIP and CaptchaAfter are the
	// attempts allowed in a window (defaults 5, 30 and 5).
	PerLogin     int
	PerIP        int
	CaptchaAfter int
}

// ThrottledError: too many attempts; retry after RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("too many failed attempts: try again in %d s", int(e.RetryAfter.Seconds()))
}

// ErrCaptchaRequired: the login had too many failed sign-ins from anywhere;
// the next ones need a solved captcha (captcha_id and captcha_answer).
var ErrCaptchaRequired = fmt.Errorf("%w: too many failed sign-ins for this login: solve a captcha (POST /api/v1/captchas) and send captcha_id and captcha_answer", domain.ErrUnauthenticated)

// CaptchaError wraps the captcha's own refusal (a wrong or expired answer)
// of a sign-in that requires one: it is ErrCaptchaRequired too.
type CaptchaError struct{ Err error }

func (e *CaptchaError) Error() string { return e.Err.Error() }

// Unwrap makes a CaptchaError both ErrCaptchaRequired and its cause.
func (e *CaptchaError) Unwrap() []error { return []error{ErrCaptchaRequired, e.Err} }

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

func (t Throttle) captchaAfter() int {
	if t.CaptchaAfter <= 0 {
		return 5
	}
	return t.CaptchaAfter
}

// attempt counts one password attempt for login from ip, and returns a
// *ThrottledError if the login from this address, or the address, is over
// its limit (the password must then not be checked). needCaptcha tells
// whether the login is past its captcha threshold. Call succeeded after a
// right password.
func (a *App) attempt(ctx context.Context, t Throttle, login, ip string) (needCaptcha bool, err error) {
	var retry time.Duration
	for _, k := range []struct {
		scope, key string
		limit      int
	}{{"login_ip", throttleKey(login) + "\t" + ip, t.perLogin()}, {"ip", ip, t.perIP()}} {
		if ip == "" {
			continue
		}
		r, err := a.count(ctx, k.scope, k.key, k.limit, t.window())
		if err != nil {
			return false, err
		}
		retry = max(retry, r)
	}
	if retry > 0 {
		return false, &ThrottledError{RetryAfter: retry}
	}
	over, err := a.count(ctx, "login", throttleKey(login), t.captchaAfter(), t.window())
	if err != nil {
		return false, err
	}
	return over > 0, nil
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
WITH l AS (DELETE FROM sign_in_attempts WHERE (scope = 'login' AND key = $1) OR (scope = 'login_ip' AND key = $1 || chr(9) || $2))
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
