package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/eventstore"
	"selfcare/internal/auth"
)

// Account is "my account" (SPEC §4): a signed-in user edits their own
// personal data and changes their password.
type Account struct {
	*App
	Sessions *Sessions
	// Links issues and reads the link that confirms a new email.
	Links *Passwords
}

// ErrWrongCurrentPassword: the current password typed is not the user's.
var ErrWrongCurrentPassword = fmt.Errorf("%w: the current password is wrong", domain.ErrForbidden)

// ErrProfileChanged: the profile changed since the client read it (its
// If-Match does not match the current ETag).
var ErrProfileChanged = fmt.Errorf("%w: the profile changed since you read it", ErrPreconditionFailed)

// ProfileETag is the entity tag of a profile: a digest of its content, so
// that it changes exactly when what GET /me shows changes.
func ProfileETag(login string, p identity.ProfileData) string {
	b, _ := json.Marshal(struct {
		Login string `json:"login"`
		identity.ProfileData
	}{login, p})
	sum := sha256.Sum256(b)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}

// UpdateProfile applies patch to login's personal data. With ifMatch set,
// the profile must still have that ETag, else ErrProfileChanged; without
// it a concurrent change is merged (a patch only names the fields it
// changes). A new email address does not take effect here (SPEC §10): it
// needs currentPassword, and a link valid 24 h goes to the new address
// (and a notice to the current one) by the EmailChangeRequested event; the
// current address stays in force until ConfirmEmail. It returns a
// *domain.ValidationError for bad fields or a missing current password,
// ErrWrongCurrentPassword (403), or a *ThrottledError after too many
// wrong current passwords (they count as failed sign-ins).
func (a *Account) UpdateProfile(ctx context.Context, login string, patch identity.ProfilePatch, ifMatch, currentPassword string) error {
	newEmail, moving, err := a.emailMove(ctx, login, patch.Email)
	if err != nil {
		return err
	}
	if moving {
		if currentPassword == "" {
			return domain.Invalid("current_password", "required", "type your current password to change your email address")
		}
		_, ok, err := a.Sessions.checkPassword(ctx, login, currentPassword, nil) // signed in: no captcha
		if err != nil {
			return err
		}
		if !ok {
			return ErrWrongCurrentPassword
		}
	}
	_, err = a.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		stream, id, version, err := a.loadRegistered(ctx, tx, login)
		if err != nil {
			return err
		}
		if ifMatch != "" && ifMatch != "*" && ifMatch != ProfileETag(id.Login().String(), id.Profile()) {
			return ErrProfileChanged
		}
		now := a.Now()
		rest := patch
		if moving {
			rest.Email = nil
		}
		events, err := id.UpdateProfile(rest, now)
		if err != nil {
			return err
		}
		if moving {
			requested, err := id.RequestEmailChange(newEmail, now.Truncate(time.Microsecond))
			if err != nil {
				return err
			}
			if len(requested) > 0 {
				return a.Links.issue(ctx, tx, stream, version, id.Login().Key(), LinkEmail, "", uuid.Nil, append(events, requested...))
			}
		}
		if len(events) == 0 {
			return nil
		}
		_, err = a.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...)
		return err
	})
	return err
}

// emailMove reports whether typed (nil: not in the patch) is another
// address than login's current one, and parses it. A malformed address is
// left for UpdateProfile to report with the other fields.
func (a *Account) emailMove(ctx context.Context, login string, typed *string) (identity.Email, bool, error) {
	if typed == nil {
		return identity.Email{}, false, nil
	}
	email, err := identity.NewEmail(*typed)
	if err != nil {
		return identity.Email{}, false, nil
	}
	var current identity.Email
	err = a.Store.Transact(ctx, func(tx *eventstore.Tx) error {
		_, id, _, err := a.loadRegistered(ctx, tx, login)
		current = id.Email()
		return err
	})
	if err != nil {
		return identity.Email{}, false, err
	}
	return email, email.Key() != current.Key(), nil
}

// ConfirmEmail applies the change of email whose link carries token (SPEC
// §10): the new address is claimed, the old one released, and the
// identity's email changes, in one transaction. It returns the login;
// identity.ErrEmailLinkInvalid (410) for an unknown, expired, used or
// voided link; identity.ErrEmailTaken (409) when another identity got the
// address meanwhile.
func (a *Account) ConfirmEmail(ctx context.Context, token string) (string, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return "", domain.Invalid("token", "required", "the token of the confirmation link is required")
	}
	hash := auth.HashToken(token)
	var login string
	_, err := a.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		link, found, err := a.Links.link(ctx, tx.Pgx(), hash, true)
		if err != nil {
			return err
		}
		if !found || link.Purpose != LinkEmail || link.UsedAt != nil {
			return identity.ErrEmailLinkInvalid
		}
		stream, id, version, err := a.loadRegistered(ctx, tx, link.LoginKey)
		if err != nil {
			return err
		}
		now := a.Now()
		events, err := id.ConfirmEmailChange(link.RequestedAt, now)
		if err != nil {
			return err
		}
		changed := events[0].(identity.ProfileUpdated)
		newEmail, err := identity.NewEmail(changed.After.Email)
		if err != nil {
			return err
		}
		if err := a.claimEmail(ctx, tx, newEmail, id.Login(), true); err != nil {
			return err
		}
		if _, err := tx.Pgx().Exec(ctx, `UPDATE password_tokens SET used_at = $2 WHERE token_hash = $1`, hash, now); err != nil {
			return fmt.Errorf("use the confirmation link: %w", err)
		}
		if _, err := a.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...); err != nil {
			return err
		}
		login = id.Login().String()
		return a.claimEmail(ctx, tx, id.Email(), id.Login(), false)
	})
	if err != nil {
		return "", err
	}
	return login, nil
}

// claimEmail claims (or releases) email for login in its claim stream.
func (a *Account) claimEmail(ctx context.Context, tx *eventstore.Tx, email identity.Email, login identity.Login, claim bool) error {
	stream := identity.EmailStream(email)
	var c identity.EmailClaim
	version, err := a.Load(ctx, tx, stream, &c)
	if err != nil {
		return err
	}
	var events []domain.Event
	if claim {
		events, err = c.Claim(email, login, a.Now())
	} else {
		events, err = c.Release(email, login, a.Now())
	}
	if err != nil {
		return err
	}
	_, err = a.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...)
	return err
}

// ChangePassword changes login's password, given the current one (SPEC §4).
// Every other session of the user is revoked; the session whose token is
// keepToken stays open, since its holder just proved the current password.
// It returns the new password's strength, a *domain.ValidationError on
// "current_password", "new_password" (the policy, or "same_as_current") or
// "confirm_password", ErrWrongCurrentPassword (403), or a *ThrottledError
// after too many wrong current passwords (they count as failed sign-ins).
func (a *Account) ChangePassword(ctx context.Context, login, current, password, confirm, keepToken string) (identity.Strength, error) {
	var v domain.ValidationError
	if current == "" {
		v.Add("current_password", "required", "type your current password")
	}
	strength, err := identity.CheckPassword("new_password", password, login)
	v.Merge("", err)
	v.Merge("", identity.CheckPasswordConfirmation(password, confirm))
	if err := v.Err(); err != nil {
		return "", err
	}
	_, ok, err := a.Sessions.checkPassword(ctx, login, current, nil)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", ErrWrongCurrentPassword
	}
	if password == current {
		return "", domain.Invalid("new_password", "same_as_current", "the new password must differ from the current one")
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return "", err
	}
	_, err = a.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		return a.Sessions.setPasswordTx(ctx, tx, login, hash, identity.ReasonChange, auth.HashToken(keepToken))
	})
	if err != nil {
		return "", err
	}
	return strength, nil
}
