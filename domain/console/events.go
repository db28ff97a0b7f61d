package console

import (
	"time"

	"selfcare/domain"
)

// ApiPasswordSet: the console account's API password was set. The password
// and its hash are never in an event.
type ApiPasswordSet struct {
	ContractID string    `json:"contract_id"`
	Login      string    `json:"login"`
	At         time.Time `json:"at"`
}

// ApiPasswordRemoved: the API password was dropped with the console
// account (Revoke).
type ApiPasswordRemoved struct {
	ContractID string    `json:"contract_id"`
	Login      string    `json:"login"`
	At         time.Time `json:"at"`
}

// AccessKeyCreated: an access key exists. Its secret is not in the event:
// it is shown once and stored only hashed or encrypted, by the caller.
type AccessKeyCreated struct {
	ContractID  string    `json:"contract_id"`
	Login       string    `json:"login"`
	AccessKeyID string    `json:"access_key_id"`
	At          time.Time `json:"at"`
}

// Why an access key was deleted.
const (
	DeletedByUser        = "deleted"       // the user deleted it
	DeletedDeprovisioned = "deprovisioned" // the console account was deleted
)

// AccessKeyDeleted: an access key no longer works.
type AccessKeyDeleted struct {
	ContractID  string    `json:"contract_id"`
	Login       string    `json:"login"`
	AccessKeyID string    `json:"access_key_id"`
	Reason      string    `json:"reason"`
	At          time.Time `json:"at"`
}

// VerificationCodeSent: an email verification code was issued for the
// console account; it voids any earlier one. The code is not in the event.
type VerificationCodeSent struct {
	ContractID string    `json:"contract_id"`
	Login      string    `json:"login"`
	IssuedAt   time.Time `json:"issued_at"`
	ExpiresAt  time.Time `json:"expires_at"`
}

// EventType implementations: the stored names (API.md "Event types").
func (ApiPasswordSet) EventType() string       { return "ApiPasswordSet" }
func (ApiPasswordRemoved) EventType() string   { return "ApiPasswordRemoved" }
func (AccessKeyCreated) EventType() string     { return "AccessKeyCreated" }
func (AccessKeyDeleted) EventType() string     { return "AccessKeyDeleted" }
func (VerificationCodeSent) EventType() string { return "VerificationCodeSent" }

// EventTypes lists the events of this package for the central registry.
var EventTypes = []domain.EventType{
	{Name: "ApiPasswordSet", Version: 1, Decode: domain.DecodeJSON[ApiPasswordSet]},
	{Name: "ApiPasswordRemoved", Version: 1, Decode: domain.DecodeJSON[ApiPasswordRemoved]},
	{Name: "AccessKeyCreated", Version: 1, Decode: domain.DecodeJSON[AccessKeyCreated]},
	{Name: "AccessKeyDeleted", Version: 1, Decode: domain.DecodeJSON[AccessKeyDeleted]},
	{Name: "VerificationCodeSent", Version: 1, Decode: domain.DecodeJSON[VerificationCodeSent]},
	{Name: "ConsoleSignInGranted", Version: 1, Decode: domain.DecodeJSON[ConsoleSignInGranted]},
	{Name: "ConsoleSignInDenied", Version: 1, Decode: domain.DecodeJSON[ConsoleSignInDenied]},
}
