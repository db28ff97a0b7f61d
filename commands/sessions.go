package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/eventstore"
	"selfcare/internal/auth"
)

// Sessions signs users in and out and resolves their bearer tokens.
type Sessions struct {
	*App
	// TTL is how long a session lasts (default 12 h).
	TTL time.Duration
	// Throttle limits password guesses per login and per client address.
	Throttle Throttle
	// Captchas checks the captcha a login past Throttle.CaptchaAfter needs.
	Captchas *Captchas
}

// CaptchaAnswer is the solved captcha a sign-in may carry; it is checked
// only when the login needs one (see Throttle).
type CaptchaAnswer struct {
	ID     string
	Answer string
}

// ErrBadCredentials is the one answer to a failed sign-in, whether the
// login exists or not.
var ErrBadCredentials = fmt.Errorf("%w: wrong login or password", domain.ErrUnauthenticated)

// ErrSessionEnded: the token is unknown, expired or revoked.
var ErrSessionEnded = fmt.Errorf("%w: the session is unknown, expired or signed out: sign in again", domain.ErrUnauthenticated)

func (s *Sessions) ttl() time.Duration {
	if s.TTL == 0 {
		return 12 * time.Hour
	}
	return s.TTL
}

// SignIn checks a login and password and opens a session. An unknown
// login costs the same time as a wrong password and gets the same error.
// Too many attempts for the login from the client's address, or from that
// address, get a *ThrottledError; too many for the login from anywhere get
// ErrCaptchaRequired (or a *CaptchaError for a wrong answer) unless captcha
// is solved; all before any password check (see Throttle). The password
// check returns auth.ErrBusy when too many run at once.
func (s *Sessions) SignIn(ctx context.Context, login, password string, captcha CaptchaAnswer) (token string, expires time.Time, err error) {
	realLogin, ok, err := s.checkPassword(ctx, login, password, &captcha)
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		return "", time.Time{}, ErrBadCredentials
	}
	return s.open(ctx, realLogin, purposeAPI)
}

// Session purposes: a bearer token of the API, or the OpenID provider's
// session held in a cookie, which the API never accepts as a bearer.
const (
	purposeAPI      = "api"
	purposeProvider = "provider"
)

// SignInProvider is SignIn for the OpenID provider's sign-in page: the
// same password check and throttle, but the session it opens is the
// provider's (a cookie), not an API bearer token. Its page draws no
// captcha: past the login's captcha threshold it gets ErrCaptchaRequired,
// and the user signs in once on the customer area, which asks for one.
func (s *Sessions) SignInProvider(ctx context.Context, login, password string) (token string, expires time.Time, err error) {
	realLogin, ok, err := s.checkPassword(ctx, login, password, &CaptchaAnswer{})
	if err != nil {
		return "", time.Time{}, err
	}
	if !ok {
		return "", time.Time{}, ErrBadCredentials
	}
	return s.open(ctx, realLogin, purposeProvider)
}

// OpenProviderSession opens a provider session for the user of a live API
// session (the "Access the technical console" button: the user is signed
// in to the customer area, so the console's sign-in asks no password).
// It ends no later than the API session.
func (s *Sessions) OpenProviderSession(ctx context.Context, apiToken string) (token string, expires time.Time, err error) {
	var login string
	var until time.Time
	err = s.Store.Pool().QueryRow(ctx, `
SELECT login, expires_at FROM sessions WHERE token_hash = $1 AND purpose = 'api' AND revoked_at IS NULL AND expires_at > $2`,
		auth.HashToken(apiToken), s.Now()).Scan(&login, &until)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, ErrSessionEnded
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("provider session: %w", err)
	}
	token, expires, err = s.open(ctx, login, purposeProvider)
	if err != nil {
		return "", time.Time{}, err
	}
	if expires.After(until) {
		_, err = s.Store.Pool().Exec(ctx, `UPDATE sessions SET expires_at = $2 WHERE token_hash = $1`, auth.HashToken(token), until)
		expires = until
	}
	return token, expires, err
}

// ProviderSession returns the login and sign-in time of a live provider
// session; ErrSessionEnded otherwise.
func (s *Sessions) ProviderSession(ctx context.Context, token string) (login string, since time.Time, err error) {
	err = s.Store.Pool().QueryRow(ctx, `
SELECT login, created_at FROM sessions WHERE token_hash = $1 AND purpose = 'provider' AND revoked_at IS NULL AND expires_at > $2`,
		auth.HashToken(token), s.Now()).Scan(&login, &since)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", time.Time{}, ErrSessionEnded
	}
	if err != nil {
		return "", time.Time{}, fmt.Errorf("provider session: %w", err)
	}
	return login, since, nil
}

// checkPassword checks login's password under the sign-in throttle: too
// many attempts get a *ThrottledError before any check, a login past its
// captcha threshold needs captcha solved (nil: the caller proved who it is
// otherwise, holding a session), a right password resets the login's
// counts, and an unknown login costs the same time as a wrong password. ok
// is false for both; realLogin is the login as registered.
func (s *Sessions) checkPassword(ctx context.Context, login, password string, captcha *CaptchaAnswer) (realLogin string, ok bool, err error) {
	ip := ActorFrom(ctx).IP
	needCaptcha, err := s.attempt(ctx, s.Throttle, login, ip)
	if err != nil {
		return "", false, err
	}
	if needCaptcha && captcha != nil {
		if captcha.ID == "" && captcha.Answer == "" {
			return "", false, ErrCaptchaRequired
		}
		if s.Captchas == nil {
			return "", false, ErrCaptchaRequired
		}
		if err := s.Captchas.Check(ctx, captcha.ID, captcha.Answer); err != nil {
			return "", false, &CaptchaError{Err: err}
		}
	}
	var hash string
	err = s.Store.Pool().QueryRow(ctx, `
SELECT login, password_hash FROM credentials WHERE login_key = $1`, identity.LoginKey(login)).Scan(&realLogin, &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, auth.CheckAgainstNothing(password)
	}
	if err != nil {
		return "", false, fmt.Errorf("check password: %w", err)
	}
	if ok, err = auth.CheckPassword(hash, password); err != nil {
		return "", false, fmt.Errorf("check password: %w", err)
	}
	if !ok {
		return "", false, nil
	}
	if err := s.succeeded(ctx, login, ip); err != nil {
		return "", false, err
	}
	return realLogin, true, nil
}

// open starts a session of purpose for login.
func (s *Sessions) open(ctx context.Context, realLogin, purpose string) (token string, expires time.Time, err error) {
	token, tokenHash, err := auth.NewToken()
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.Now()
	expires = now.Add(s.ttl())
	_, err = s.Store.Pool().Exec(ctx, `
INSERT INTO sessions (token_hash, login_key, login, created_at, expires_at, source_ip, purpose) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		tokenHash, identity.LoginKey(realLogin), realLogin, now, expires, ActorFrom(ctx).IP, purpose)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign in: %w", err)
	}
	return token, expires, nil
}

// Resolve returns the login of a live session; ErrSessionEnded otherwise.
func (s *Sessions) Resolve(ctx context.Context, token string) (string, error) {
	var login string
	err := s.Store.Pool().QueryRow(ctx, `
SELECT login FROM sessions WHERE token_hash = $1 AND purpose = 'api' AND revoked_at IS NULL AND expires_at > $2`,
		auth.HashToken(token), s.Now()).Scan(&login)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrSessionEnded
	}
	if err != nil {
		return "", fmt.Errorf("resolve session: %w", err)
	}
	return login, nil
}

// SignOut revokes the session of token.
func (s *Sessions) SignOut(ctx context.Context, token string) error {
	_, err := s.Store.Pool().Exec(ctx, `UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`,
		auth.HashToken(token), s.Now())
	return err
}

// SetPassword checks password against the policy (errors on field), stores
// its hash and appends PasswordSet, in one transaction; every session of
// the user is revoked. It returns the password's strength, and
// domain.ErrNotFound for an unknown login.
func (s *Sessions) SetPassword(ctx context.Context, login, password, field string, reason identity.PasswordReason) (identity.Strength, error) {
	strength, err := identity.CheckPassword(field, password, login)
	if err != nil {
		return "", err
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	// Retried on conflict: the outcome does not depend on what the user saw,
	// and server reactions (a set-password link being sent) append to the
	// same identity stream.
	_, err = s.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		return s.setPasswordTx(ctx, tx, login, hash, reason, nil)
	})
	if err != nil {
		return "", err
	}
	return strength, nil
}

// setPasswordTx records login's new password hash in tx and revokes every
// session of the user but the one whose token hash is keep (nil: all).
func (s *Sessions) setPasswordTx(ctx context.Context, tx *eventstore.Tx, login, hash string, reason identity.PasswordReason, keep []byte) error {
	stream, id, version, err := s.loadRegistered(ctx, tx, login)
	if err != nil {
		return err
	}
	now := s.Now()
	events, err := id.SetPassword(reason, now)
	if err != nil {
		return err
	}
	if err := saveCredential(ctx, tx, id.Login(), hash, now, keep); err != nil {
		return err
	}
	_, err = s.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...)
	return err
}

// saveCredential stores the password hash of login and revokes every
// session of the user but the one whose token hash is keep (nil: all).
func saveCredential(ctx context.Context, tx *eventstore.Tx, login identity.Login, hash string, now time.Time, keep []byte) error {
	key := login.Key()
	if _, err := tx.Pgx().Exec(ctx, `
INSERT INTO credentials (login_key, login, password_hash, changed_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (login_key) DO UPDATE SET password_hash = excluded.password_hash, changed_at = excluded.changed_at`,
		key, login.String(), hash, now); err != nil {
		return err
	}
	_, err := tx.Pgx().Exec(ctx, `
UPDATE sessions SET revoked_at = $2 WHERE login_key = $1 AND revoked_at IS NULL AND ($3::bytea IS NULL OR token_hash <> $3)`,
		key, now, keep)
	return err
}
