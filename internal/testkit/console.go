package testkit

import (
	"context"

	"selfcare/domain/access"
	"selfcare/domain/membership"
	"selfcare/eventstore"
	"selfcare/internal/app"
)

// GrantConsoleRoles gives a member of a contract console roles through the
// membership's own decision (ChangeRoles, as a users manager would), so
// that the usual events follow (RolesChanged, ConsoleAccountProvisioned).
// It stands in for the users API in tests of console features.
func (e *Env) GrantConsoleRoles(contractID, login string, roles ...string) {
	e.T.Helper()
	e.appendDirect(func(ctx context.Context, a *app.App, tx *eventstore.Tx) error {
		stream := membership.Stream(contractID, login)
		var m membership.Membership
		version, err := a.Load(ctx, tx, stream, &m)
		if err != nil {
			return err
		}
		console, err := access.NewConsoleRoles(roles, nil)
		if err != nil {
			return err
		}
		events, err := m.ChangeRoles(membership.ChangeRoles{By: membership.AllRoles, Profiles: m.Roles().Profiles, Console: console}, a.Now())
		if err != nil {
			return err
		}
		_, err = a.Append(ctx, tx, stream, eventstore.Exactly(version), contractID, events...)
		return err
	})
}
