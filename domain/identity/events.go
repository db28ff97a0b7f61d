package identity

import (
	"time"

	"selfcare/domain"
)

// ProfileData is a snapshot of the editable personal data of an identity,
// as stored in events and shown by GET /me.
type ProfileData struct {
	Email     string `json:"email"`
	Civility  string `json:"civility"`
	LastName  string `json:"last_name"`
	FirstName string `json:"first_name"`
	Phone     string `json:"phone"`
	Mobile    string `json:"mobile"`
	Language  string `json:"language"`
}

// IdentityRegistered: a new identity exists. It has no password yet.
type IdentityRegistered struct {
	Login string `json:"login"`
	ProfileData
	RegisteredAt time.Time `json:"registered_at"`
}

// ProfileUpdated: the personal data of an identity changed. Before and
// After are full snapshots; Changed names the fields that differ, with
// their JSON names ("email", "phone", ...).
type ProfileUpdated struct {
	Login     string      `json:"login"`
	Changed   []string    `json:"changed"`
	Before    ProfileData `json:"before"`
	After     ProfileData `json:"after"`
	UpdatedAt time.Time   `json:"at"`
	// EmailVerified is set when the email changed through the link sent
	// to the new address (SPEC §10): its owner proved it.
	EmailVerified bool `json:"email_verified,omitempty"`
}

// EmailChangeRequested: the identity asked to change its email to Email
// (SPEC §10). A single-use link, valid EmailLinkValidity, goes to Email
// (its token is not in the event, only its hash in the token store) and
// OldEmail is told; until the link is used the current email stays in
// force. A later request voids this one.
type EmailChangeRequested struct {
	Login       string    `json:"login"`
	Email       string    `json:"email"`
	OldEmail    string    `json:"old_email"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// PasswordReason says why a password was set.
type PasswordReason string

// The reasons.
const (
	ReasonFirst  PasswordReason = "first"  // the identity had no password yet
	ReasonReset  PasswordReason = "reset"  // through a forgotten-password link
	ReasonChange PasswordReason = "change" // by the signed-in user, with the current one
)

// PasswordSet: the identity's password was set. The password itself, and
// its hash, are never in an event: the hash lives in the credential store.
type PasswordSet struct {
	Login  string         `json:"login"`
	At     time.Time      `json:"at"`
	Reason PasswordReason `json:"reason"`
}

// PasswordResetRequested: a set-password link was sent. The link's token is
// not in the event (only its hash, in the token store).
type PasswordResetRequested struct {
	Login       string    `json:"login"`
	RequestedAt time.Time `json:"requested_at"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// LoginReminderRequested: an email reminding the login is to be sent.
type LoginReminderRequested struct {
	Login string    `json:"login"`
	Email string    `json:"email"`
	At    time.Time `json:"at"`
}

// EmailClaimed: an email address now belongs to the identity Login. Stored
// in the email's own stream (EmailStream).
type EmailClaimed struct {
	Email string    `json:"email"`
	Login string    `json:"login"`
	At    time.Time `json:"at"`
}

// EmailReleased: an email address no longer belongs to the identity Login.
type EmailReleased struct {
	Email string    `json:"email"`
	Login string    `json:"login"`
	At    time.Time `json:"at"`
}

// EventType implementations: the stored names (API.md "Event types").
func (IdentityRegistered) EventType() string     { return "IdentityRegistered" }
func (ProfileUpdated) EventType() string         { return "ProfileUpdated" }
func (PasswordSet) EventType() string            { return "PasswordSet" }
func (PasswordResetRequested) EventType() string { return "PasswordResetRequested" }
func (LoginReminderRequested) EventType() string { return "LoginReminderRequested" }
func (EmailClaimed) EventType() string           { return "EmailClaimed" }
func (EmailChangeRequested) EventType() string   { return "EmailChangeRequested" }
func (EmailReleased) EventType() string          { return "EmailReleased" }

// EventTypes lists the events of this package for the central registry.
var EventTypes = []domain.EventType{
	{Name: "IdentityRegistered", Version: 1, Decode: domain.DecodeJSON[IdentityRegistered]},
	{Name: "ProfileUpdated", Version: 1, Decode: domain.DecodeJSON[ProfileUpdated]},
	{Name: "PasswordSet", Version: 1, Decode: domain.DecodeJSON[PasswordSet]},
	{Name: "PasswordResetRequested", Version: 1, Decode: domain.DecodeJSON[PasswordResetRequested]},
	{Name: "LoginReminderRequested", Version: 1, Decode: domain.DecodeJSON[LoginReminderRequested]},
	{Name: "EmailClaimed", Version: 1, Decode: domain.DecodeJSON[EmailClaimed]},
	{Name: "EmailChangeRequested", Version: 1, Decode: domain.DecodeJSON[EmailChangeRequested]},
	{Name: "EmailReleased", Version: 1, Decode: domain.DecodeJSON[EmailReleased]},
}
