package commands

import (
	"context"
	"errors"

	"selfcare/domain/access"
	"selfcare/domain/console"
	"selfcare/eventstore"
)

// ConsoleAccounts tells what a user holds on a contract (the members read
// model): the console roles, and whether the contract exists.
type ConsoleAccounts interface {
	ConsoleRoles(ctx context.Context, cid, login string) (roles access.ConsoleRoles, contractExists bool, err error)
}

// ConsoleSignIns decides and records the OpenID provider's answers to a
// relying party asking for a user on a company account (SPEC §10).
type ConsoleSignIns struct {
	*App
	Accounts ConsoleAccounts
}

// Decide grants or denies login's sign-in to clientID on contract cid, and
// appends the answer (ConsoleSignInGranted or ConsoleSignInDenied) to the
// user's sign-in stream. It returns the roles granted, or
// console.ErrNoConsoleAccount once the denial is recorded.
func (c *ConsoleSignIns) Decide(ctx context.Context, cid, login, clientID string) (access.ConsoleRoles, error) {
	roles, exists, err := c.Accounts.ConsoleRoles(ctx, cid, login)
	if err != nil {
		return access.ConsoleRoles{}, err
	}
	attempt := console.SignInAttempt{ContractID: cid, Login: login, ClientID: clientID,
		Address: ActorFrom(ctx).IP, ContractExists: exists, Roles: roles}
	event, decision := console.DecideSignIn(attempt, c.Now())
	contract := cid
	if !exists {
		contract = "" // an unknown company account names no contract of the feed
	}
	_, err = c.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		_, err := c.Append(ctx, tx, console.SignInStream(login), eventstore.Any, contract, event)
		return err
	})
	if err != nil {
		return access.ConsoleRoles{}, err
	}
	if decision != nil {
		return access.ConsoleRoles{}, decision
	}
	return roles, nil
}

// IsNoConsoleAccount reports whether err is a denied console sign-in.
func IsNoConsoleAccount(err error) bool { return errors.Is(err, console.ErrNoConsoleAccount) }
