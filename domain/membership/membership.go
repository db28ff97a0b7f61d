// Package membership holds a user's declaration on a contract: profiles per
// section, console roles and console account lifecycle (SPEC §1–3).
package membership

import (
	"fmt"
	"strings"
	"time"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/identity"
)

// Errors of the membership decisions.
var (
	// ErrNotMember: the user is not (or no longer) declared on the contract.
	ErrNotMember = fmt.Errorf("%w: this user is not declared on the contract", domain.ErrNotFound)
	// ErrAlreadyMember: the user is already declared on the contract.
	ErrAlreadyMember = fmt.Errorf("%w: this user is already declared on the contract", domain.ErrConflict)
	// ErrReferentCannotBeRemoved: the referent user stays on their contract.
	ErrReferentCannotBeRemoved = fmt.Errorf("%w: the referent user cannot be removed from the contract", domain.ErrConflict)
	// ErrReferentMustStayManager: the referent keeps the manager profile on
	// the contract and users sections.
	ErrReferentMustStayManager = fmt.Errorf("%w: the referent user keeps the manager profile on the contract and users sections", domain.ErrConflict)
	// ErrOwnRoles: nobody changes their own roles (SPEC §10), nor removes
	// themselves from a contract.
	ErrOwnRoles = fmt.Errorf("%w: nobody changes their own roles; ask another users manager", domain.ErrForbidden)
	// ErrAboveConsoleManager: a console manager does not touch the console
	// roles of the referent or of a users manager (SPEC §10).
	ErrAboveConsoleManager = fmt.Errorf("%w: a console manager does not change the roles of the referent or of a users manager", domain.ErrForbidden)
)

// Roles is what a member holds: profiles per section and console roles.
type Roles = access.Roles

// Stream returns the name of the event stream of login's membership of
// contractID: "membership-<contract id>-<lower-cased login>". A user
// removed and added again continues the same stream.
func Stream(contractID, login string) string {
	return "membership-" + contractID + "-" + identity.LoginKey(login)
}

// Authority is what the actor of a decision may change, from their own
// profile on the users section (or the back office's, which may do all).
type Authority int

// The authorities. The zero value may change nothing, so a caller that
// forgets to set one is refused.
const (
	NoAuthority      Authority = iota
	ConsoleRolesOnly           // users: console_manager
	AllRoles                   // users: manager, or the back office
)

// AuthorityOf returns the authority of an actor holding profiles ps on the
// contract.
func AuthorityOf(ps access.Profiles) Authority {
	switch {
	case ps.Can(access.CanChangeRoles):
		return AllRoles
	case ps.Can(access.CanChangeConsoleRoles):
		return ConsoleRolesOnly
	default:
		return NoAuthority
	}
}

// Membership is the state of one user on one contract, folded from its
// stream. The zero value is a user never declared on the contract.
type Membership struct {
	member         bool
	contractID     string
	login          string
	referent       bool
	roles          Roles
	addedAt        time.Time
	incidents      bool
	changeRequests bool
	version        int
}

// Replay folds events into a new Membership.
func Replay(events []domain.Event) Membership {
	return ReplayUntil(events, len(events))
}

// ReplayUntil folds the first n events only: the membership as it was
// after its n-th event.
func ReplayUntil(events []domain.Event, n int) Membership {
	var m Membership
	for i, e := range events {
		if i >= n {
			break
		}
		m.Apply(e)
	}
	return m
}

// AsOf folds the events decided at or before t: the membership as it was
// at instant t (an auditor's "roles as of"). Events are in stream order,
// so folding stops at the first one decided after t.
func AsOf(events []domain.Event, t time.Time) Membership {
	var m Membership
	for _, e := range events {
		if at, ok := occurredAt(e); ok && at.After(t) {
			break
		}
		m.Apply(e)
	}
	return m
}

// Apply folds one event of the membership's stream.
func (m *Membership) Apply(e domain.Event) {
	m.version++
	switch e := e.(type) {
	case UserAddedToContract:
		m.member = true
		m.contractID, m.login = e.ContractID, e.Login
		m.referent = e.Referent
		m.roles = Roles{Profiles: e.Profiles, Console: e.Console}
		m.addedAt = e.At
		m.incidents, m.changeRequests = false, false
	case RolesChanged:
		m.roles = e.After
	case UserRemovedFromContract:
		m.member = false
		m.referent = false
		m.roles = Roles{}
		m.incidents, m.changeRequests = false, false
	case ExternalAccountsSet:
		m.incidents, m.changeRequests = e.Incidents, e.ChangeRequests
	}
}

// IsMember reports whether the user is declared on the contract now.
func (m Membership) IsMember() bool { return m.member }

// ContractID returns the contract's id ("" if never a member).
func (m Membership) ContractID() string { return m.contractID }

// Login returns the member's login ("" if never a member).
func (m Membership) Login() string { return m.login }

// Referent reports whether the member is the contract's referent user.
func (m Membership) Referent() bool { return m.referent }

// Roles returns the member's profiles and console roles; the zero Roles
// (which grants nothing) when not a member.
func (m Membership) Roles() Roles { return m.roles }

// HasConsoleAccount reports whether the member has a console account on
// the contract, that is at least one console role.
func (m Membership) HasConsoleAccount() bool { return m.member && !m.roles.Console.IsEmpty() }

// AddedAt returns when the user was (last) added to the contract.
func (m Membership) AddedAt() time.Time { return m.addedAt }

// ExternalAccounts tells whether the member has an account on the
// incidents and the change-requests applications.
func (m Membership) ExternalAccounts() (incidents, changeRequests bool) {
	return m.incidents, m.changeRequests
}

// Version returns the number of events folded: the expected version for
// the next append to the stream (optimistic concurrency, SPEC §3).
func (m Membership) Version() int { return m.version }

// Add declares a user on a contract. The caller has resolved Login to an
// identity (registering it or finding it by email, SPEC §1) and validated
// Console against the contract's groups (access.NewConsoleRoles).
type Add struct {
	ContractID string
	Login      string
	// Referent marks the contract's referent user (back office only).
	Referent bool
	// ConsoleOnly adds a console user: Console must hold at least one role
	// and Profiles is ignored, the user getting access.ConsoleOnlyProfiles
	// (none everywhere, visitor on the contract section, which has no
	// "none"): they appear among customer-area users, see the contract's
	// summary and nothing else of the customer area.
	ConsoleOnly bool
	// Profiles of the new member; the zero value means the defaults
	// (access.DefaultProfiles, or access.ReferentProfiles for the referent).
	Profiles access.Profiles
	Console  access.ConsoleRoles
	// By is the actor's authority: AllRoles to add a user, at least
	// ConsoleRolesOnly to add a console user.
	By Authority
	// AddedBy names the actor (a login, or "back-office").
	AddedBy string
	// NewIdentity tells whether the identity was registered for this
	// addition.
	NewIdentity bool
}

// Add declares the user on the contract. It emits UserAddedToContract,
// followed by ConsoleAccountProvisioned when console roles are given. It
// returns:
//   - domain.ErrForbidden if cmd.By may not add this kind of user;
//   - ErrAlreadyMember if the user is declared on the contract (a removed
//     user may be added again);
//   - a *domain.ValidationError: "console" "required" for a console user
//     without console role, "contract_id"/"login" for a command that does
//     not match the stream;
//   - ErrReferentMustStayManager if a referent would not be manager of the
//     contract and users sections.
func (m Membership) Add(cmd Add, now time.Time) ([]domain.Event, error) {
	switch {
	case cmd.ConsoleOnly && cmd.By < ConsoleRolesOnly, !cmd.ConsoleOnly && cmd.By < AllRoles:
		return nil, domain.ErrForbidden
	case m.member:
		return nil, ErrAlreadyMember
	}
	var v domain.ValidationError
	if cmd.ContractID == "" || m.contractID != "" && m.contractID != cmd.ContractID {
		v.Add("contract_id", "invalid", "the command's contract does not match the membership")
	}
	if strings.TrimSpace(cmd.Login) == "" || m.login != "" && !strings.EqualFold(m.login, cmd.Login) {
		v.Add("login", "invalid", "the command's login does not match the membership")
	}
	profiles := cmd.Profiles
	switch {
	case cmd.ConsoleOnly && cmd.Referent:
		v.Add("referent", "invalid", "the referent is not a console-only user")
	case cmd.ConsoleOnly:
		if cmd.Console.IsEmpty() {
			v.Add("console", "required", "a console user has at least one console role")
		}
		profiles = access.ConsoleOnlyProfiles()
	case profiles.IsZero() && cmd.Referent:
		profiles = access.ReferentProfiles()
	case profiles.IsZero():
		profiles = access.DefaultProfiles()
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if cmd.Referent && !keepsReferentManager(profiles) {
		return nil, ErrReferentMustStayManager
	}

	now = now.UTC()
	events := []domain.Event{UserAddedToContract{
		ContractID: cmd.ContractID, Login: cmd.Login, Referent: cmd.Referent,
		Profiles: profiles, Console: cmd.Console, AddedBy: cmd.AddedBy,
		NewIdentity: cmd.NewIdentity, At: now,
	}}
	if !cmd.Console.IsEmpty() {
		events = append(events, ConsoleAccountProvisioned{
			ContractID: cmd.ContractID, Login: cmd.Login, Roles: cmd.Console, At: now,
		})
	}
	return events, nil
}

// keepsReferentManager is the referent rule: whatever else changes, the
// referent stays manager of the contract and users sections, so every
// contract always has someone who sees its company and manages its users.
func keepsReferentManager(ps access.Profiles) bool {
	return ps.Get(access.SectionContract) == access.Manager && ps.Get(access.SectionUsers) == access.Manager
}

// ChangeRoles sets a member's profiles and console roles.
type ChangeRoles struct {
	// By is the actor's authority: AllRoles changes everything,
	// ConsoleRolesOnly only the console roles.
	By Authority
	// Actor is the login of the user deciding, "" for the back office:
	// nobody changes their own roles.
	Actor string
	// Profiles are the new profiles; the zero value keeps the current ones
	// (what a console manager sends).
	Profiles access.Profiles
	// Console is the new set of console roles, validated by the caller
	// against the contract's groups; empty removes every console role.
	Console access.ConsoleRoles
}

// ChangeRoles changes a member's roles. It emits RolesChanged with before
// and after, then the console account consequence: ConsoleAccountProvisioned
// for a first console role, ConsoleAccountUpdated when roles change and
// some remain, ConsoleAccountDeprovisioned when the last is removed. When
// nothing actually changes it emits nothing. It returns ErrNotMember,
// domain.ErrForbidden (no authority, or a console manager changing
// profiles), ErrOwnRoles, ErrAboveConsoleManager and
// ErrReferentMustStayManager.
func (m Membership) ChangeRoles(cmd ChangeRoles, now time.Time) ([]domain.Event, error) {
	if !m.member {
		return nil, ErrNotMember
	}
	if cmd.By < ConsoleRolesOnly {
		return nil, domain.ErrForbidden
	}
	if m.isActor(cmd.Actor) {
		return nil, ErrOwnRoles
	}
	if cmd.By < AllRoles && (m.referent || m.roles.Profiles.Get(access.SectionUsers) == access.Manager) {
		return nil, ErrAboveConsoleManager
	}
	before := m.roles
	after := Roles{Profiles: cmd.Profiles, Console: cmd.Console}
	if after.Profiles.IsZero() {
		after.Profiles = before.Profiles
	}
	if after.Profiles != before.Profiles && cmd.By < AllRoles {
		return nil, fmt.Errorf("%w: a console manager changes console roles only", domain.ErrForbidden)
	}
	if m.referent && !keepsReferentManager(after.Profiles) {
		return nil, ErrReferentMustStayManager
	}
	if after.Equal(before) {
		return nil, nil
	}

	now = now.UTC()
	events := []domain.Event{RolesChanged{
		ContractID: m.contractID, Login: m.login, Before: before, After: after, At: now,
	}}
	if e := m.consoleConsequence(before.Console, after.Console, now); e != nil {
		events = append(events, e)
	}
	return events, nil
}

// consoleConsequence is SPEC §3's console rule for a change of console
// roles from before to after; nil when the console roles did not change.
func (m Membership) consoleConsequence(before, after access.ConsoleRoles, now time.Time) domain.Event {
	switch {
	case before.Equal(after):
		return nil
	case before.IsEmpty():
		return ConsoleAccountProvisioned{ContractID: m.contractID, Login: m.login, Roles: after, At: now}
	case after.IsEmpty():
		return ConsoleAccountDeprovisioned{ContractID: m.contractID, Login: m.login, At: now}
	default:
		return ConsoleAccountUpdated{ContractID: m.contractID, Login: m.login, Before: before, After: after, At: now}
	}
}

// Remove takes the user off the contract, permanently: they keep their
// identity and other contracts, and may be added again later. It emits
// UserRemovedFromContract, then ConsoleAccountDeprovisioned if they had a
// console account. actor is the login of the user deciding ("" for the
// back office). It returns ErrNotMember, domain.ErrForbidden unless by is
// AllRoles, ErrReferentCannotBeRemoved for the referent, and ErrOwnRoles
// for a manager removing themselves (their rights would go with it).
func (m Membership) Remove(by Authority, actor string, now time.Time) ([]domain.Event, error) {
	switch {
	case !m.member:
		return nil, ErrNotMember
	case by < AllRoles:
		return nil, domain.ErrForbidden
	case m.referent:
		return nil, ErrReferentCannotBeRemoved
	case m.isActor(actor):
		return nil, ErrOwnRoles
	}
	now = now.UTC()
	events := []domain.Event{UserRemovedFromContract{
		ContractID: m.contractID, Login: m.login, Before: m.roles, At: now,
	}}
	if !m.roles.Console.IsEmpty() {
		events = append(events, ConsoleAccountDeprovisioned{ContractID: m.contractID, Login: m.login, At: now})
	}
	return events, nil
}

// isActor reports whether actor (a login, "" for the back office) is this
// member.
func (m Membership) isActor(actor string) bool {
	return actor != "" && strings.EqualFold(strings.TrimSpace(actor), m.login)
}

// SetExternalAccounts records whether the member has an account on the
// incidents and change-requests applications (back office). It emits
// nothing when the flags do not change and returns ErrNotMember.
func (m Membership) SetExternalAccounts(incidents, changeRequests bool, now time.Time) ([]domain.Event, error) {
	if !m.member {
		return nil, ErrNotMember
	}
	if m.incidents == incidents && m.changeRequests == changeRequests {
		return nil, nil
	}
	return []domain.Event{ExternalAccountsSet{
		ContractID: m.contractID, Login: m.login,
		Incidents: incidents, ChangeRequests: changeRequests, At: now.UTC(),
	}}, nil
}
