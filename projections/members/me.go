package members

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/identity"
)

// Me is the profile of a signed-in user (GET /me).
type Me struct {
	Login string `json:"login"`
	identity.ProfileData
	// PendingEmail is the new address a change of email waits to be
	// confirmed at (SPEC §10), until PendingEmailExpiresAt; the email in
	// force is still Email.
	PendingEmail          *string    `json:"pending_email,omitempty"`
	PendingEmailExpiresAt *time.Time `json:"pending_email_expires_at,omitempty"`
	// Version is the identity stream's version (the ETag).
	Version int64 `json:"-"`
}

// ErrNoIdentity: no identity has this login.
var ErrNoIdentity = fmt.Errorf("%w: no such user", domain.ErrNotFound)

// Identity returns the profile of the identity whose login is login.
func (q Queries) Identity(ctx context.Context, login string) (Me, error) {
	var m Me
	err := q.Pool.QueryRow(ctx, `
SELECT login, email, civility, last_name, first_name, phone, mobile, language, version, pending_email, pending_email_expires
FROM rm_members.identities WHERE login_key = $1`, identity.LoginKey(login)).Scan(
		&m.Login, &m.Email, &m.Civility, &m.LastName, &m.FirstName, &m.Phone, &m.Mobile, &m.Language, &m.Version,
		&m.PendingEmail, &m.PendingEmailExpiresAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Me{}, ErrNoIdentity
	}
	if err != nil {
		return Me{}, fmt.Errorf("members: identity %s: %w", login, err)
	}
	return m, nil
}
