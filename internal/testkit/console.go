package testkit

import (
	"context"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/membership"
	"selfcare/eventstore"
)

// GrantConsoleRoles gives a member of a contract console roles through the
// membership's own decision (ChangeRoles, as a users manager would), so
// that the usual events follow (RolesChanged, ConsoleAccountProvisioned).
// It stands in for the users API in tests of console features.
func (e *Env) GrantConsoleRoles(contractID, login string, roles ...string) {
	e.T.Helper()
	console, err := access.NewConsoleRoles(roles, nil)
	if err == nil {
		err = decide(e.History(), OperatorActor(), membership.Stream(contractID, login), contractID, func(_ context.Context, _ *eventstore.Tx, m membership.Membership) ([]domain.Event, error) {
			return m.ChangeRoles(membership.ChangeRoles{By: membership.AllRoles, Profiles: m.Roles().Profiles, Console: console}, e.Server.App.Now())
		})
	}
	if err != nil {
		e.T.Fatal(err)
	}
}
