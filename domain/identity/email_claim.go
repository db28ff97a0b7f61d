package identity

import (
	"fmt"
	"strings"
	"time"

	"selfcare/domain"
)

// ErrEmailTaken: the email address belongs to another identity.
var ErrEmailTaken = fmt.Errorf("%w: this email address belongs to another identity", domain.ErrConflict)

// EmailStream returns the name of the stream that records who owns an
// email address: "email-" and the lower-cased address.
func EmailStream(e Email) string { return "email-" + e.Key() }

// EmailClaim tells who owns one email address, folded from its
// EmailStream. Email uniqueness across identities rests on it, with the
// event store's optimistic concurrency:
//
//  1. Load EmailStream(email) and Replay it into an EmailClaim; remember
//     its Version.
//  2. If Owner is another login, the address is taken. When adding a user
//     to a contract, SPEC §1 says to use that owner's identity instead of
//     the login typed in the form; elsewhere, answer ErrEmailTaken.
//  3. Otherwise append the events of Claim to EmailStream(email),
//     expecting Version. Of two concurrent claims only one append
//     succeeds; the other gets a wrong-expected-version error and starts
//     again at 1 (it will then see the owner).
//  4. Register the identity, or append its ProfileUpdated. If that fails
//     (say the login is taken), append the events of Release to undo the
//     claim.
//  5. After an email change, Release the old address in its own stream.
//
// The claim is the source of truth for "who has this email"; the email in
// the identity's stream is a copy for its readers.
type EmailClaim struct {
	owner   string // login of the owner, "" when free
	version int
}

// ReplayEmailClaim folds the events of an email's stream.
func ReplayEmailClaim(events []domain.Event) EmailClaim {
	var c EmailClaim
	for _, e := range events {
		c.Apply(e)
	}
	return c
}

// Apply folds one event of the email's stream.
func (c *EmailClaim) Apply(e domain.Event) {
	c.version++
	switch e := e.(type) {
	case EmailClaimed:
		c.owner = e.Login
	case EmailReleased:
		if strings.EqualFold(c.owner, e.Login) {
			c.owner = ""
		}
	}
}

// Owner returns the login owning the address, if any.
func (c EmailClaim) Owner() (login string, ok bool) { return c.owner, c.owner != "" }

// Version returns the number of events folded: the expected version for
// the next append to the stream.
func (c EmailClaim) Version() int { return c.version }

// Claim gives the address to login. It returns no event if login already
// owns it, and ErrEmailTaken if another identity does.
func (c EmailClaim) Claim(email Email, login Login, now time.Time) ([]domain.Event, error) {
	switch {
	case c.owner == "":
		return []domain.Event{EmailClaimed{Email: email.Key(), Login: login.String(), At: now.UTC()}}, nil
	case strings.EqualFold(c.owner, login.String()):
		return nil, nil
	default:
		return nil, ErrEmailTaken
	}
}

// Release frees the address if login owns it, else does nothing.
func (c EmailClaim) Release(email Email, login Login, now time.Time) ([]domain.Event, error) {
	if c.owner == "" || !strings.EqualFold(c.owner, login.String()) {
		return nil, nil
	}
	return []domain.Event{EmailReleased{Email: email.Key(), Login: login.String(), At: now.UTC()}}, nil
}

// LoginFor applies SPEC §1 when a user is added to a contract: if the
// email already belongs to an identity, that identity's login is used, not
// the one typed in the form. It returns the login to use and whether it is
// an existing identity's (the API response says so).
func (c EmailClaim) LoginFor(typed Login) (login string, existing bool) {
	if c.owner != "" {
		return c.owner, true
	}
	return typed.String(), false
}
