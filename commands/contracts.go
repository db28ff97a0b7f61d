package commands

import (
	"context"
	"crypto/rand"
	"fmt"

	"selfcare/domain/contract"
	"selfcare/domain/membership"
	"selfcare/eventstore"
)

// Contracts are the back office's commands on contracts.
type Contracts struct {
	*App
}

// CreatedContract tells what CreateContract made.
type CreatedContract struct {
	ID            string
	PlatformID    string
	ReferentLogin string
	// ExistingIdentity: the referent's email already belonged to an
	// identity, whose login is used instead of the one typed (SPEC §1).
	ExistingIdentity bool
}

// Create creates a contract and declares its referent user on it (manager
// everywhere, visitor on dashboard and orders), registering the referent's
// identity unless their email already has one. It returns a
// *domain.ValidationError for bad input.
func (c *Contracts) Create(ctx context.Context, in contract.CreateInput) (CreatedContract, error) {
	creation, err := contract.NewCreation(in)
	if err != nil {
		return CreatedContract{}, err
	}
	var out CreatedContract
	_, err = c.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		var n int
		if err := tx.Pgx().QueryRow(ctx, `SELECT nextval('contract_numbers')`).Scan(&n); err != nil {
			return fmt.Errorf("allocate contract number: %w", err)
		}
		id := contract.FormatContractID(n)
		platformID, err := contract.NewPlatformID(rand.Reader)
		if err != nil {
			return err
		}
		login, isNew, err := c.resolveIdentity(ctx, tx, creation.Referent())
		if err != nil {
			return err
		}
		now := c.Now()
		var k contract.Contract
		events, err := k.Create(creation, id, platformID, login, now)
		if err != nil {
			return err
		}
		if _, err := c.Append(ctx, tx, contract.Stream(id), eventstore.NoStream, id, events...); err != nil {
			return err
		}
		var m membership.Membership
		added, err := m.Add(membership.Add{
			ContractID: id, Login: login, Referent: true, By: membership.AllRoles,
			AddedBy: ActorFrom(ctx).Login, NewIdentity: isNew,
		}, now)
		if err != nil {
			return err
		}
		if _, err := c.Append(ctx, tx, membership.Stream(id, login), eventstore.NoStream, id, added...); err != nil {
			return err
		}
		out = CreatedContract{ID: id, PlatformID: platformID, ReferentLogin: login, ExistingIdentity: !isNew}
		return nil
	})
	return out, err
}
