package commands

import (
	"context"

	"selfcare/domain/membership"
	"selfcare/eventstore"
)

// Reactions are the commands the server issues by itself when some events
// happen; a bus consumer group feeds them every event once, in order, and
// redelivers one whose reaction failed. Each reaction derives the ids of
// the events it appends from the id of the event that caused it, so a
// redelivery appends nothing twice.
//
//   - UserAddedToContract with a new identity: a set-password link is sent
//     (the access email);
//   - ConsoleAccountDeprovisioned: the account's API password, access keys
//     and pending code go (console.Account.Revoke). Until the reaction has
//     run (milliseconds), the credentials are unusable anyway: every
//     console endpoint requires a console role on the contract.
type Reactions struct {
	*App
	Passwords   *Passwords
	Credentials *ConsoleCredentials
}

// Handle reacts to one stored event (others are ignored).
func (r *Reactions) Handle(ctx context.Context, rec eventstore.Record) error {
	switch rec.Type {
	case "UserAddedToContract", "ConsoleAccountDeprovisioned":
	default:
		return nil
	}
	e, err := r.Decode(rec)
	if err != nil {
		return err
	}
	ctx = WithActor(ctx, Actor{
		Kind: ActorSystem, Login: "system:reactions",
		CorrelationID: rec.Metadata.CorrelationID, CausationID: rec.EventID.String(),
	})
	switch e := e.(type) {
	case membership.UserAddedToContract:
		if !e.NewIdentity {
			return nil
		}
		return r.Passwords.SendAccessLink(ctx, rec.EventID, e.Login, e.ContractID)
	case membership.ConsoleAccountDeprovisioned:
		return r.Credentials.Revoke(ctx, rec.EventID, e.ContractID, e.Login)
	}
	return nil
}
