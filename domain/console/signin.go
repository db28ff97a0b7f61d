package console

import (
	"fmt"
	"time"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/identity"
)

// Console sign-ins through the OpenID Connect provider (SPEC §10, guide
// §4): a relying party (the console) asks for a user on a company account;
// the provider answers only if the user holds a console account (at least
// one console role) on that contract. Each answer is an event in the
// user's sign-in stream, for auditors.

// Why a console sign-in was denied.
const (
	DeniedNoConsoleAccount = "no_console_account" // not a member, or no console role
	DeniedUnknownContract  = "unknown_contract"   // no such company account
)

// ErrNoConsoleAccount: the user holds no console account on the contract.
var ErrNoConsoleAccount = fmt.Errorf("%w: you have no console account on this company account", domain.ErrForbidden)

// SignInStream returns the stream of login's console sign-ins:
// "console-sign-ins-<lower-cased login>". Contract ids start with OCB, so
// it never collides with a console account's stream.
func SignInStream(login string) string {
	return "console-sign-ins-" + identity.LoginKey(login)
}

// SignInAttempt is a signed-in user asking a relying party's access to a
// company account.
type SignInAttempt struct {
	ContractID string
	Login      string
	ClientID   string
	Address    string // the client address of the browser
	// ContractExists is false for an unknown company account.
	ContractExists bool
	// Roles are the user's console roles on the contract (empty when not a
	// member).
	Roles access.ConsoleRoles
}

// ConsoleSignInGranted: the provider vouched for the user to a relying
// party on the contract.
type ConsoleSignInGranted struct {
	ContractID string    `json:"contract_id"`
	Login      string    `json:"login"`
	ClientID   string    `json:"client_id"`
	Address    string    `json:"address"`
	Roles      []string  `json:"roles"`
	At         time.Time `json:"at"`
}

// ConsoleSignInDenied: the provider refused (access_denied).
type ConsoleSignInDenied struct {
	ContractID string    `json:"contract_id"`
	Login      string    `json:"login"`
	ClientID   string    `json:"client_id"`
	Address    string    `json:"address"`
	Reason     string    `json:"reason"`
	At         time.Time `json:"at"`
}

func (ConsoleSignInGranted) EventType() string { return "ConsoleSignInGranted" }
func (ConsoleSignInDenied) EventType() string  { return "ConsoleSignInDenied" }

// DecideSignIn answers a sign-in attempt: granted with the user's console
// roles, or denied with ErrNoConsoleAccount. Either way the event records
// the answer.
func DecideSignIn(a SignInAttempt, now time.Time) (domain.Event, error) {
	reason := ""
	switch {
	case !a.ContractExists:
		reason = DeniedUnknownContract
	case a.Roles.IsEmpty():
		reason = DeniedNoConsoleAccount
	}
	if reason != "" {
		return ConsoleSignInDenied{ContractID: a.ContractID, Login: a.Login, ClientID: a.ClientID,
			Address: a.Address, Reason: reason, At: now}, ErrNoConsoleAccount
	}
	return ConsoleSignInGranted{ContractID: a.ContractID, Login: a.Login, ClientID: a.ClientID,
		Address: a.Address, Roles: a.Roles.Names(), At: now}, nil
}
