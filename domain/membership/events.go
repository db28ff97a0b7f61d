package membership

import (
	"time"

	"selfcare/domain"
	"selfcare/domain/access"
)

// UserAddedToContract: a user is now declared on a contract. NewIdentity
// tells whether the identity was registered for this addition (false when
// an existing identity was found by its email, SPEC §1).
type UserAddedToContract struct {
	ContractID  string              `json:"contract_id"`
	Login       string              `json:"login"`
	Referent    bool                `json:"referent"`
	Profiles    access.Profiles     `json:"profiles"`
	Console     access.ConsoleRoles `json:"console"`
	AddedBy     string              `json:"added_by"`
	NewIdentity bool                `json:"new_identity"`
	At          time.Time           `json:"at"`
}

// RolesChanged: a member's profiles or console roles changed.
type RolesChanged struct {
	ContractID string       `json:"contract_id"`
	Login      string       `json:"login"`
	Before     access.Roles `json:"before"`
	After      access.Roles `json:"after"`
	At         time.Time    `json:"at"`
}

// UserRemovedFromContract: a user is no longer declared on a contract.
// Before keeps the roles they had, for auditors.
type UserRemovedFromContract struct {
	ContractID string       `json:"contract_id"`
	Login      string       `json:"login"`
	Before     access.Roles `json:"before"`
	At         time.Time    `json:"at"`
}

// ConsoleAccountProvisioned: the member got their first console role; a
// console account is to be created for the contract (and the console
// access email sent).
type ConsoleAccountProvisioned struct {
	ContractID string              `json:"contract_id"`
	Login      string              `json:"login"`
	Roles      access.ConsoleRoles `json:"roles"`
	At         time.Time           `json:"at"`
}

// ConsoleAccountUpdated: the console roles of an existing console account
// changed, at least one remaining.
type ConsoleAccountUpdated struct {
	ContractID string              `json:"contract_id"`
	Login      string              `json:"login"`
	Before     access.ConsoleRoles `json:"before"`
	After      access.ConsoleRoles `json:"after"`
	At         time.Time           `json:"at"`
}

// ConsoleAccountDeprovisioned: the member's console account for the
// contract is to be deleted (no console role left, or removed from the
// contract). Its API credentials go with it (console.Account.Revoke).
type ConsoleAccountDeprovisioned struct {
	ContractID string    `json:"contract_id"`
	Login      string    `json:"login"`
	At         time.Time `json:"at"`
}

// ExternalAccountsSet: the back office recorded whether the member has an
// account on the incidents and change-requests applications, which shows
// the "open an incident" and "manage your services" links.
type ExternalAccountsSet struct {
	ContractID     string    `json:"contract_id"`
	Login          string    `json:"login"`
	Incidents      bool      `json:"incidents"`
	ChangeRequests bool      `json:"change_requests"`
	At             time.Time `json:"at"`
}

// EventType implementations: the stored names (API.md "Event types").
func (UserAddedToContract) EventType() string         { return "UserAddedToContract" }
func (RolesChanged) EventType() string                { return "RolesChanged" }
func (UserRemovedFromContract) EventType() string     { return "UserRemovedFromContract" }
func (ConsoleAccountProvisioned) EventType() string   { return "ConsoleAccountProvisioned" }
func (ConsoleAccountUpdated) EventType() string       { return "ConsoleAccountUpdated" }
func (ConsoleAccountDeprovisioned) EventType() string { return "ConsoleAccountDeprovisioned" }
func (ExternalAccountsSet) EventType() string         { return "ExternalAccountsSet" }

// EventTypes lists the events of this package for the central registry.
var EventTypes = []domain.EventType{
	{Name: "UserAddedToContract", Version: 1, Decode: domain.DecodeJSON[UserAddedToContract]},
	{Name: "RolesChanged", Version: 1, Decode: domain.DecodeJSON[RolesChanged]},
	{Name: "UserRemovedFromContract", Version: 1, Decode: domain.DecodeJSON[UserRemovedFromContract]},
	{Name: "ConsoleAccountProvisioned", Version: 1, Decode: domain.DecodeJSON[ConsoleAccountProvisioned]},
	{Name: "ConsoleAccountUpdated", Version: 1, Decode: domain.DecodeJSON[ConsoleAccountUpdated]},
	{Name: "ConsoleAccountDeprovisioned", Version: 1, Decode: domain.DecodeJSON[ConsoleAccountDeprovisioned]},
	{Name: "ExternalAccountsSet", Version: 1, Decode: domain.DecodeJSON[ExternalAccountsSet]},
}

// occurredAt returns the decision time carried by a membership event.
// DecidedAfter reports whether membership event e was decided after t:
// AsOf stops folding at the first such event, and a reader of the stream
// may stop reading there.
func DecidedAfter(e domain.Event, t time.Time) bool {
	at, ok := occurredAt(e)
	return ok && at.After(t)
}

func occurredAt(e domain.Event) (time.Time, bool) {
	switch e := e.(type) {
	case UserAddedToContract:
		return e.At, true
	case RolesChanged:
		return e.At, true
	case UserRemovedFromContract:
		return e.At, true
	case ConsoleAccountProvisioned:
		return e.At, true
	case ConsoleAccountUpdated:
		return e.At, true
	case ConsoleAccountDeprovisioned:
		return e.At, true
	case ExternalAccountsSet:
		return e.At, true
	}
	return time.Time{}, false
}
