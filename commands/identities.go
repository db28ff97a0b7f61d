package commands

import (
	"context"
	"fmt"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/eventstore"
)

// loadRegistered loads the identity of login in tx, with its stream and
// version; domain.ErrNotFound when no identity is registered under it.
func (a *App) loadRegistered(ctx context.Context, tx *eventstore.Tx, login string) (string, identity.Identity, int64, error) {
	stream := identity.Stream(login)
	var id identity.Identity
	version, err := a.Load(ctx, tx, stream, &id)
	if err != nil {
		return "", id, 0, err
	}
	if !id.Registered() {
		return "", id, 0, fmt.Errorf("%w: no such user", domain.ErrNotFound)
	}
	return stream, id, version, nil
}

// resolveIdentity finds or registers the identity of a person being added
// to a contract. SPEC §1: the email identifies the person; if it already
// belongs to an identity, that identity (and its login) is used, whatever
// login was typed. Otherwise the identity is registered under the typed
// login and claims the email, both in tx. It returns the login to use and
// whether the identity is new; identity.ErrLoginTaken if the typed login
// belongs to someone else.
func (a *App) resolveIdentity(ctx context.Context, tx *eventstore.Tx, reg identity.Registration) (string, bool, error) {
	claimStream := identity.EmailStream(reg.Email)
	var claim identity.EmailClaim
	claimVersion, err := a.Load(ctx, tx, claimStream, &claim)
	if err != nil {
		return "", false, err
	}
	if owner, ok := claim.Owner(); ok {
		return owner, false, nil
	}
	stream := identity.Stream(reg.Login.String())
	var id identity.Identity
	version, err := a.Load(ctx, tx, stream, &id)
	if err != nil {
		return "", false, err
	}
	now := a.Now()
	events, err := id.Register(reg, now)
	if err != nil {
		return "", false, err
	}
	if _, err := a.Append(ctx, tx, stream, eventstore.Exactly(version), "", events...); err != nil {
		return "", false, err
	}
	claimed, err := claim.Claim(reg.Email, reg.Login, now)
	if err != nil {
		return "", false, err
	}
	if _, err := a.Append(ctx, tx, claimStream, eventstore.Exactly(claimVersion), "", claimed...); err != nil {
		return "", false, err
	}
	return reg.Login.String(), true, nil
}
