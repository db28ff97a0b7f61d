package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/eventstore"
	"selfcare/internal/auth"
	"selfcare/internal/secrets"
)

// Purposes of set-password links.
const (
	LinkAccess = "access" // the first password of a new identity
	LinkReset  = "reset"  // a forgotten password
	LinkEmail  = "email"  // confirms a new email address (not a set-password link)
)

// Passwords are the anonymous account-recovery commands (SPEC §4):
// set-password links for a new identity or a forgotten password, and login
// reminders. None of them tells whether a login or email exists: an unknown
// one goes through the same work (the same reads and writes, in a
// transaction that is then rolled back) and gets the same answer.
type Passwords struct {
	*App
	Keys *secrets.Keys
}

// errUnknownRollback rolls back the look-alike work done for an unknown
// login or email.
var errUnknownRollback = errors.New("unknown login or email: roll back")

// maxTyped bounds what a login or email lookup accepts.
const maxTyped = identity.MaxEmailLength

// RequestReset sends a set-password link, valid 24 h, to the identity
// whose login is login, if there is one. It returns a
// *domain.ValidationError only for an empty or absurdly long login.
func (p *Passwords) RequestReset(ctx context.Context, login string) error {
	login = strings.TrimSpace(login)
	switch {
	case login == "":
		return domain.Invalid("login", "required", "type your login")
	case utf8.RuneCountInString(login) > maxTyped:
		return domain.Invalid("login", "too_long", "a login has at most %d characters", identity.MaxLoginLength)
	}
	return p.anonymously(ctx, func(tx *eventstore.Tx) (bool, error) {
		stream := identity.Stream(login)
		var id identity.Identity
		version, err := p.Load(ctx, tx, stream, &id)
		if err != nil {
			return false, err
		}
		now := p.linkTime()
		events, err := id.RequestPasswordReset(now)
		known := err == nil
		switch {
		case errors.Is(err, domain.ErrNotFound):
			events = []domain.Event{identity.PasswordResetRequested{Login: login, RequestedAt: now, ExpiresAt: now.Add(identity.ResetLinkValidity)}}
		case err != nil:
			return false, err
		}
		return known, p.issue(ctx, tx, stream, version, identity.LoginKey(login), LinkReset, "", uuid.Nil, events)
	})
}

// RemindLogin emails the login of the identity whose address is email, if
// there is one. It returns a *domain.ValidationError for a malformed email.
func (p *Passwords) RemindLogin(ctx context.Context, email string) error {
	addr, err := identity.NewEmail(email)
	if err != nil {
		return err
	}
	return p.anonymously(ctx, func(tx *eventstore.Tx) (bool, error) {
		var claim identity.EmailClaim
		if _, err := p.Load(ctx, tx, identity.EmailStream(addr), &claim); err != nil {
			return false, err
		}
		owner, known := claim.Owner()
		if !known {
			owner = "unknown-" + addr.Key()
		}
		stream := identity.Stream(owner)
		var id identity.Identity
		version, err := p.Load(ctx, tx, stream, &id)
		if err != nil {
			return false, err
		}
		events, err := id.RequestLoginReminder(p.Now())
		switch {
		case errors.Is(err, domain.ErrNotFound):
			known = false
			events = []domain.Event{identity.LoginReminderRequested{Login: owner, Email: addr.String(), At: p.Now()}}
		case err != nil:
			return false, err
		}
		_, err = p.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...)
		return known, err
	})
}

// anonymously runs fn, which reports whether the login or email it looked
// up exists, and commits its work only if so. A concurrent change of the
// identity is retried, as any command's. Unlike Execute it does not wait
// for the read models: the answer must take as long whether or not the
// account exists.
func (p *Passwords) anonymously(ctx context.Context, fn func(tx *eventstore.Tx) (bool, error)) error {
	_, err := p.execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		known, err := fn(tx)
		if err == nil && !known {
			return errUnknownRollback
		}
		return err
	})
	if errors.Is(err, errUnknownRollback) {
		return nil
	}
	return err
}

// linkTime is the time of a link request, to the microsecond: the token
// table keeps it with PostgreSQL's precision and the identity's decision
// compares it with the event's exactly.
func (p *Passwords) linkTime() time.Time { return p.Now().Truncate(time.Microsecond) }

// issue appends events to stream and stores the hash of the token of the
// link their last event sends (a PasswordResetRequested or an
// EmailChangeRequested), derived from that event's id (id, or a new one
// when uuid.Nil).
func (p *Passwords) issue(ctx context.Context, tx *eventstore.Tx, stream string, version int64, loginKey, purpose, contractID string, id uuid.UUID, events []domain.Event) error {
	envs, err := p.Envelopes(ctx, contractID, events...)
	if err != nil {
		return err
	}
	last := len(envs) - 1
	if id != uuid.Nil {
		envs[last].ID = id
	}
	var req struct{ RequestedAt, ExpiresAt time.Time }
	switch e := events[last].(type) {
	case identity.PasswordResetRequested:
		req.RequestedAt, req.ExpiresAt = e.RequestedAt, e.ExpiresAt
	case identity.EmailChangeRequested:
		req.RequestedAt, req.ExpiresAt = e.RequestedAt, e.ExpiresAt
	default:
		return fmt.Errorf("issue link: unexpected event %T", events[last])
	}
	var contract *string
	if contractID != "" {
		contract = &contractID
	}
	token := auth.LinkToken(p.Keys, envs[last].ID)
	if _, err := tx.Pgx().Exec(ctx, `
INSERT INTO password_tokens (token_hash, login_key, purpose, contract_id, requested_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (token_hash) DO NOTHING`,
		auth.HashToken(token), loginKey, purpose, contract, req.RequestedAt, req.ExpiresAt); err != nil {
		return fmt.Errorf("store link: %w", err)
	}
	_, err = tx.Append(ctx, stream, eventstore.Exactly(version), envs...)
	return err
}

// SendAccessLink sends the access email's set-password link to a new
// identity declared on contractID (SPEC §3: "the new identity receives an
// access email with a single-use link to set its password"). It is the
// reaction to UserAddedToContract with NewIdentity, caused by the event
// cause: the link's event id is derived from it, so that a redelivered
// event appends nothing more. An identity that already has a password
// needs no link.
func (p *Passwords) SendAccessLink(ctx context.Context, cause uuid.UUID, login, contractID string) error {
	return p.Store.Transact(ctx, func(tx *eventstore.Tx) error {
		stream := identity.Stream(login)
		var id identity.Identity
		version, err := p.Load(ctx, tx, stream, &id)
		if err != nil {
			return err
		}
		if !id.Registered() || id.HasPassword() {
			return nil
		}
		events, err := id.RequestPasswordReset(p.linkTime())
		if err != nil {
			return err
		}
		return p.issue(ctx, tx, stream, version, id.Login().Key(), LinkAccess, contractID, reactionID(cause, 0), events)
	})
}

// linkInfo is what a link's token opens.
type linkInfo struct {
	LoginKey    string
	Purpose     string
	RequestedAt time.Time
	ExpiresAt   time.Time
	UsedAt      *time.Time
}

// link returns what the token of tokenHash opens; found is false for an
// unknown token.
func (p *Passwords) link(ctx context.Context, q eventstore.Querier, tokenHash []byte, forUpdate bool) (linkInfo, bool, error) {
	var l linkInfo
	sql := `SELECT login_key, purpose, requested_at, expires_at, used_at FROM password_tokens WHERE token_hash = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	err := q.QueryRow(ctx, sql, tokenHash).Scan(&l.LoginKey, &l.Purpose, &l.RequestedAt, &l.ExpiresAt, &l.UsedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return linkInfo{}, false, nil
	}
	if err != nil {
		return linkInfo{}, false, fmt.Errorf("set-password link: %w", err)
	}
	return l, true, nil
}

// Reset sets a password through a set-password link (SPEC §4: the link is
// valid 24 h and single use). It returns the password's strength;
// identity.ErrResetLinkInvalid (410) for an unknown, expired or used token
// or one voided by a later password change; a *domain.ValidationError on
// "token", "new_password" or "confirm_password". Every session of the user
// is revoked.
func (p *Passwords) Reset(ctx context.Context, token, password, confirm string) (identity.Strength, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return "", domain.Invalid("token", "required", "the token of the set-password link is required")
	}
	hash := auth.HashToken(token)
	link, found, err := p.link(ctx, p.Store.Pool(), hash, false)
	if err != nil {
		return "", err
	}
	now := p.Now()
	if !found || link.Purpose == LinkEmail || link.UsedAt != nil || !now.Before(link.ExpiresAt) {
		return "", identity.ErrResetLinkInvalid
	}
	// The login's key, not the login as registered: the two differ only
	// in case, which the same-as-login rule ignores.
	var v domain.ValidationError
	strength, err := identity.CheckPassword("new_password", password, link.LoginKey)
	v.Merge("", err)
	v.Merge("", identity.CheckPasswordConfirmation(password, confirm))
	if err := v.Err(); err != nil {
		return "", err
	}
	pwHash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	_, err = p.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		link, found, err := p.link(ctx, tx.Pgx(), hash, true)
		if err != nil {
			return err
		}
		if !found || link.Purpose == LinkEmail || link.UsedAt != nil {
			return identity.ErrResetLinkInvalid
		}
		stream := identity.Stream(link.LoginKey)
		var id identity.Identity
		version, err := p.Load(ctx, tx, stream, &id)
		if err != nil {
			return err
		}
		now := p.Now()
		events, err := id.ResetPassword(link.RequestedAt, now)
		if err != nil {
			return err
		}
		if _, err := tx.Pgx().Exec(ctx, `UPDATE password_tokens SET used_at = $2 WHERE token_hash = $1`, hash, now); err != nil {
			return err
		}
		if err := saveCredential(ctx, tx, id.Login(), pwHash, now, nil); err != nil {
			return err
		}
		_, err = p.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...)
		return err
	})
	if err != nil {
		return "", err
	}
	return strength, nil
}

// reactionID is the id of the i-th event a reaction appends because of
// the event cause: the same on every delivery of cause, so that appending
// it again is a no-op (eventstore: a re-appended event id changes nothing).
func reactionID(cause uuid.UUID, i int) uuid.UUID {
	return uuid.NewSHA1(cause, fmt.Appendf(nil, "reaction:%d", i))
}
