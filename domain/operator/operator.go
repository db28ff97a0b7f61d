// Package operator holds the named accounts of the back office and of
// auditors (SPEC §10): each holds a token of its own, so that the event
// log records which operator or auditor acted, not a shared "operator".
// An account's stream records when it was added and revoked; its token
// lives hashed beside the events, never in them.
package operator

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"selfcare/domain"
)

// Role is what an account may do.
type Role string

// The roles.
const (
	RoleAdmin   Role = "admin"   // the back office's API
	RoleAuditor Role = "auditor" // the audit API and the event feed
)

// NewRole parses a role.
func NewRole(s string) (Role, error) {
	switch r := Role(strings.TrimSpace(s)); r {
	case RoleAdmin, RoleAuditor:
		return r, nil
	default:
		return "", domain.Invalid("role", "invalid", "a role is admin or auditor, not %q", s)
	}
}

// Name names an account: 3 to 64 characters of a-z 0-9 . _ -, lower-cased.
type Name struct{ s string }

var nameRE = regexp.MustCompile(`^[a-z0-9._-]{3,64}$`)

// BootstrapPrefix starts the actor names of the environment's tokens
// ("bootstrap-admin", "bootstrap-auditor"); no account may take it.
const BootstrapPrefix = "bootstrap-"

// NewName checks and lower-cases a name.
func NewName(s string) (Name, error) {
	n := strings.ToLower(strings.TrimSpace(s))
	switch {
	case !nameRE.MatchString(n):
		return Name{}, domain.Invalid("name", "invalid", "a name is 3 to 64 characters of a-z 0-9 . _ -")
	case strings.HasPrefix(n, BootstrapPrefix):
		return Name{}, domain.Invalid("name", "reserved", "names starting with %q stand for the environment's tokens", BootstrapPrefix)
	}
	return Name{s: n}, nil
}

func (n Name) String() string { return n.s }

// Stream is the stream of the account named n.
func Stream(n Name) string { return "operator-" + n.s }

// Errors of the decisions.
var (
	// ErrExists: the name was already given (names are never reused, so
	// that the log's actor names stay unambiguous).
	ErrExists = fmt.Errorf("%w: an operator account with this name exists or existed", domain.ErrConflict)
	// ErrNoAccount: no account has this name.
	ErrNoAccount = fmt.Errorf("%w: no operator account has this name", domain.ErrNotFound)
)

// OperatorAdded: a named account of the back office or of an auditor.
type OperatorAdded struct {
	Name string    `json:"name"`
	Role Role      `json:"role"`
	At   time.Time `json:"at"`
}

// OperatorRevoked: the account's token stops working, for good.
type OperatorRevoked struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

func (OperatorAdded) EventType() string   { return "OperatorAdded" }
func (OperatorRevoked) EventType() string { return "OperatorRevoked" }

// EventTypes lists the events of this package for the central registry.
var EventTypes = []domain.EventType{
	{Name: "OperatorAdded", Version: 1, Decode: domain.DecodeJSON[OperatorAdded]},
	{Name: "OperatorRevoked", Version: 1, Decode: domain.DecodeJSON[OperatorRevoked]},
}

// Account is an account's state, folded from its stream.
type Account struct {
	exists, revoked bool
	role            Role
	version         int
}

// Apply folds one event of the account's stream.
func (a *Account) Apply(e domain.Event) {
	a.version++
	switch e := e.(type) {
	case OperatorAdded:
		a.exists, a.role = true, e.Role
	case OperatorRevoked:
		a.revoked = true
	}
}

// Version is the number of events folded.
func (a Account) Version() int { return a.version }

// Add creates the account. It returns ErrExists if the name was ever given.
func (a Account) Add(name Name, role Role, now time.Time) ([]domain.Event, error) {
	if a.exists {
		return nil, ErrExists
	}
	return []domain.Event{OperatorAdded{Name: name.s, Role: role, At: now.UTC()}}, nil
}

// Revoke ends the account. It returns ErrNoAccount for a name never given,
// and no event for an account already revoked.
func (a Account) Revoke(name Name, now time.Time) ([]domain.Event, error) {
	switch {
	case !a.exists:
		return nil, ErrNoAccount
	case a.revoked:
		return nil, nil
	}
	return []domain.Event{OperatorRevoked{Name: name.s, At: now.UTC()}}, nil
}
