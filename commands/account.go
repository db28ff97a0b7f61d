package commands

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

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
// changes). A new email is claimed and the old one released in the same
// transaction: it returns identity.ErrEmailTaken (409) when another
// identity has it, and a *domain.ValidationError for bad fields.
func (a *Account) UpdateProfile(ctx context.Context, login string, patch identity.ProfilePatch, ifMatch string) error {
	_, err := a.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		stream, id, version, err := a.loadRegistered(ctx, tx, login)
		if err != nil {
			return err
		}
		if ifMatch != "" && ifMatch != "*" && ifMatch != ProfileETag(id.Login().String(), id.Profile()) {
			return ErrProfileChanged
		}
		now := a.Now()
		events, err := id.UpdateProfile(patch, now)
		if err != nil || len(events) == 0 {
			return err
		}
		oldEmail := id.Email()
		newEmail, err := identity.NewEmail(events[0].(identity.ProfileUpdated).After.Email)
		if err != nil {
			return err
		}
		moved := newEmail.Key() != oldEmail.Key()
		if moved {
			if err := a.claimEmail(ctx, tx, newEmail, id.Login(), true); err != nil {
				return err
			}
		}
		if _, err := a.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...); err != nil {
			return err
		}
		if moved {
			return a.claimEmail(ctx, tx, oldEmail, id.Login(), false)
		}
		return nil
	})
	return err
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
