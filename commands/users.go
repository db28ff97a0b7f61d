package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/eventstore"
)

// Users are the commands on the users of a contract (SPEC §3): adding users
// and console users, changing their roles, removing them, and the back
// office's console groups and external-account flags.
type Users struct {
	*App
}

// ErrNoContract: the contract addressed does not exist.
var ErrNoContract = fmt.Errorf("%w: no such contract", domain.ErrNotFound)

// UserInput is the add-user form, shaped like the body of POST
// /contracts/{cid}/users: personal data, profiles per section (sections
// left out take the defaults) and console roles.
type UserInput struct {
	identity.RegistrationInput
	Profiles map[string]string `json:"profiles"`
	Console  []string          `json:"console"`
}

// AddedUser tells what an addition made.
type AddedUser struct {
	// Login is the member's login: the one typed, or the login of the
	// identity that already owned the email (SPEC §1).
	Login string
	// RequestedLogin is the login typed in the form.
	RequestedLogin string
	// ExistingIdentity: the email already belonged to an identity, which
	// was used instead of registering a new one.
	ExistingIdentity bool
}

// Add declares a new user on contract cid with profiles and console roles;
// by is the actor's authority (users: manager). The input is validated as
// one command: a *domain.ValidationError lists every bad field at once
// (those of identity.NewRegistration, "profiles.<section>", "console[i]").
// The identity is found by email or registered. It also returns
// ErrNoContract, domain.ErrForbidden, identity.ErrLoginTaken (the typed
// login belongs to another identity) and membership.ErrAlreadyMember.
func (u *Users) Add(ctx context.Context, cid string, by membership.Authority, in UserInput) (AddedUser, error) {
	return u.add(ctx, cid, by, in, false)
}

// AddConsoleUser declares a console user on contract cid: personal data and
// at least one console role ("console" "required" otherwise); the user gets
// the console-only profiles whatever in.Profiles says. by must be at least
// membership.ConsoleRolesOnly. Errors are those of Add.
func (u *Users) AddConsoleUser(ctx context.Context, cid string, by membership.Authority, in UserInput) (AddedUser, error) {
	return u.add(ctx, cid, by, in, true)
}

func (u *Users) add(ctx context.Context, cid string, by membership.Authority, in UserInput, consoleOnly bool) (AddedUser, error) {
	var out AddedUser
	// Retrying is safe: the decision is made again on fresh state, and Add
	// refuses a user who meanwhile became a member.
	_, err := u.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		k, err := u.loadContract(ctx, tx, cid)
		if err != nil {
			return err
		}
		var v domain.ValidationError
		reg, err := identity.NewRegistration(in.RegistrationInput)
		v.Merge("", err)
		var profiles access.Profiles
		if !consoleOnly {
			profiles, err = access.ParseProfiles(in.Profiles)
			v.Merge("", err)
		}
		console, err := access.NewConsoleRoles(in.Console, k.ConsoleGroups())
		v.Merge("", err)
		if consoleOnly && len(in.Console) == 0 {
			v.Add("console", "required", "a console user has at least one console role")
		}
		if err := v.Err(); err != nil {
			return err
		}

		login, isNew, err := u.resolveIdentity(ctx, tx, reg)
		if err != nil {
			return err
		}
		stream := membership.Stream(cid, login)
		var m membership.Membership
		version, err := u.Load(ctx, tx, stream, &m)
		if err != nil {
			return err
		}
		events, err := m.Add(membership.Add{
			ContractID: cid, Login: login, ConsoleOnly: consoleOnly,
			Profiles: profiles, Console: console, By: by,
			AddedBy: ActorFrom(ctx).Login, NewIdentity: isNew,
		}, u.Now())
		if err != nil {
			return err
		}
		if _, err := u.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...); err != nil {
			return err
		}
		out = AddedUser{Login: login, RequestedLogin: reg.Login.String(), ExistingIdentity: !isNew}
		return nil
	})
	return out, err
}

// RolesInput is a change of roles, shaped like the body of PUT
// .../users/{login}/roles. A nil field keeps what the member holds; in
// Profiles, sections left out keep their current profile; an empty
// Console removes every console role.
type RolesInput struct {
	Profiles map[string]string `json:"profiles"`
	Console  *[]string         `json:"console"`
}

// ChangeRoles changes the roles of login on contract cid, decided on the
// membership's version as loaded and appended expecting that version: a
// concurrent change makes it fail with eventstore.ErrWrongExpectedVersion
// (409) rather than overwrite. pre is the client's If-Match, checked
// before deciding (ErrPreconditionFailed). It returns
// membership.ErrNotMember, a *domain.ValidationError ("profiles.<section>",
// "console[i]", or "profiles" "required" when the input changes nothing at
// all), domain.ErrForbidden (a console manager changing profiles) and
// membership.ErrReferentMustStayManager.
func (u *Users) ChangeRoles(ctx context.Context, cid, login string, by membership.Authority, in RolesInput, pre Precondition) error {
	_, err := u.Execute(ctx, FailOnConflict, func(tx *eventstore.Tx) error {
		k, err := u.loadContract(ctx, tx, cid)
		if err != nil {
			return err
		}
		stream, m, version, err := u.loadMember(ctx, tx, cid, login, pre)
		if err != nil {
			return err
		}
		current := m.Roles()
		cmd := membership.ChangeRoles{By: by, Actor: actingUser(ctx), Console: current.Console}
		var v domain.ValidationError
		if in.Profiles == nil && in.Console == nil {
			v.Add("profiles", "required", "give the new profiles, console roles, or both")
		}
		if in.Profiles != nil {
			cmd.Profiles, err = access.ParseProfilesOver(current.Profiles, in.Profiles)
			v.Merge("", err)
		}
		if in.Console != nil {
			cmd.Console, err = access.NewConsoleRoles(*in.Console, k.ConsoleGroups())
			v.Merge("", err)
		}
		if err := v.Err(); err != nil {
			return err
		}
		events, err := m.ChangeRoles(cmd, u.Now())
		if err != nil {
			return err
		}
		_, err = u.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...)
		return err
	})
	return err
}

// actingUser is the login of the user acting in ctx, "" when the back
// office (or the system) acts.
func actingUser(ctx context.Context) string {
	if a := ActorFrom(ctx); a.Kind == ActorUser {
		return a.Login
	}
	return ""
}

// Remove takes login off contract cid (never the referent), with the same
// concurrency rules as ChangeRoles. It returns membership.ErrNotMember,
// ErrPreconditionFailed, domain.ErrForbidden and
// membership.ErrReferentCannotBeRemoved.
func (u *Users) Remove(ctx context.Context, cid, login string, by membership.Authority, pre Precondition) error {
	_, err := u.Execute(ctx, FailOnConflict, func(tx *eventstore.Tx) error {
		stream, m, version, err := u.loadMember(ctx, tx, cid, login, pre)
		if err != nil {
			return err
		}
		events, err := m.Remove(by, actingUser(ctx), u.Now())
		if err != nil {
			return err
		}
		_, err = u.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...)
		return err
	})
	return err
}

// CreateConsoleGroup adds a console group to contract cid (back office) and
// returns its name as stored. It returns ErrNoContract, a
// *domain.ValidationError on "name", contract.ErrReservedConsoleRole and
// contract.ErrConsoleGroupExists.
func (u *Users) CreateConsoleGroup(ctx context.Context, cid, name string) (string, error) {
	var created string
	// Retrying decides again on the groups as they are now: a duplicate
	// created meanwhile is then refused, never overwritten.
	_, err := u.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		var k contract.Contract
		version, err := u.Load(ctx, tx, contract.Stream(cid), &k)
		if err != nil {
			return err
		}
		if !k.Exists() {
			return ErrNoContract
		}
		events, err := k.CreateConsoleGroup(name, u.Now())
		if err != nil {
			return err
		}
		created = events[0].(contract.ConsoleGroupCreated).Name
		_, err = u.Append(ctx, tx, contract.Stream(cid), eventstore.Exactly(version), cid, events...)
		return err
	})
	return created, err
}

// SetExternalAccounts records whether login has an account on the
// incidents and change-requests applications (back office). It returns
// ErrNoContract and membership.ErrNotMember.
func (u *Users) SetExternalAccounts(ctx context.Context, cid, login string, incidents, changeRequests bool) error {
	// The flags are absolute values: deciding again on fresh state is right.
	_, err := u.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		if _, err := u.loadContract(ctx, tx, cid); err != nil {
			return err
		}
		stream, m, version, err := u.loadMember(ctx, tx, cid, login, Precondition{})
		if err != nil {
			return err
		}
		events, err := m.SetExternalAccounts(incidents, changeRequests, u.Now())
		if err != nil {
			return err
		}
		_, err = u.Append(ctx, tx, stream, eventstore.Exactly(version), cid, events...)
		return err
	})
	return err
}

// RolesAt is what a user held on a contract at an instant.
type RolesAt struct {
	ContractID string
	Login      string
	AsOf       time.Time
	// Member: the user was declared on the contract at that instant;
	// otherwise Roles is zero.
	Member   bool
	Referent bool
	Roles    access.Roles
	// Version is the number of events of the membership decided by then.
	Version int
}

// RolesAsOf replays the membership stream of login on cid from the event
// store up to instant t (SPEC §8: an auditor's "roles as of"). It is a
// query of the event store itself, not of a read model, so it answers for
// any instant. It returns ErrNoContract for an unknown contract; a user
// never declared on the contract is not an error (Member is false).
func (u *Users) RolesAsOf(ctx context.Context, cid, login string, t time.Time) (RolesAt, error) {
	// The contract exists if its stream does: its version says so without
	// reading its events.
	v, err := u.Store.Version(ctx, contract.Stream(cid))
	if err != nil {
		return RolesAt{}, err
	}
	if v == 0 {
		return RolesAt{}, ErrNoContract
	}
	out := RolesAt{ContractID: cid, Login: login, AsOf: t.UTC()}
	// Read up to the first event decided after t: the instant's answer
	// costs the events before it, not the whole stream.
	var events []domain.Event
	err = u.Store.Each(ctx, membership.Stream(cid, login), func(rec eventstore.Record) (bool, error) {
		e, err := u.Decode(rec)
		if err != nil {
			return false, err
		}
		if membership.DecidedAfter(e, t) {
			return false, nil
		}
		events = append(events, e)
		return true, nil
	})
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return out, nil
	}
	if err != nil {
		return RolesAt{}, err
	}
	m := membership.AsOf(events, t)
	out.Version = m.Version()
	if m.IsMember() {
		out.Login, out.Member, out.Referent, out.Roles = m.Login(), true, m.Referent(), m.Roles()
	}
	return out, nil
}

func (u *Users) loadContract(ctx context.Context, tx *eventstore.Tx, cid string) (contract.Contract, error) {
	var k contract.Contract
	if _, err := u.Load(ctx, tx, contract.Stream(cid), &k); err != nil {
		return contract.Contract{}, err
	}
	if !k.Exists() {
		return contract.Contract{}, ErrNoContract
	}
	return k, nil
}

// loadMember loads a current member's membership and checks the client's
// precondition on the version loaded.
func (u *Users) loadMember(ctx context.Context, tx *eventstore.Tx, cid, login string, pre Precondition) (string, membership.Membership, int64, error) {
	stream := membership.Stream(cid, login)
	var m membership.Membership
	version, err := u.Load(ctx, tx, stream, &m)
	if err != nil {
		return "", m, 0, err
	}
	if !m.IsMember() {
		return "", m, 0, membership.ErrNotMember
	}
	if err := pre.Check(version); err != nil {
		return "", m, 0, err
	}
	return stream, m, version, nil
}
