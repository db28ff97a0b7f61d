package audit

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/projections"
)

// RoleChangesName is the name of the role-changes projector; its table is
// rm_role_changes.role_changes.
const RoleChangesName = "role_changes"

// The kinds of role change.
const (
	ChangeAdded   = "added"   // UserAddedToContract: before is none
	ChangeChanged = "changed" // RolesChanged
	ChangeRemoved = "removed" // UserRemovedFromContract: after is none
)

const roleChangesSchema = `
CREATE TABLE role_changes (
    position       bigint      PRIMARY KEY,
    event_id       uuid        NOT NULL,
    stream         text        NOT NULL,
    version        bigint      NOT NULL,
    event_type     text        NOT NULL,
    change         text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    contract_id    text        NOT NULL,
    login          text        NOT NULL,
    login_key      text        NOT NULL,
    actor          text        NOT NULL,
    actor_key      text        NOT NULL,
    actor_kind     text        NOT NULL,
    source_ip      text        NOT NULL,
    request_id     text        NOT NULL,
    correlation_id text        NOT NULL,
    before         jsonb       NOT NULL,
    after          jsonb       NOT NULL
);
CREATE INDEX role_changes_contract ON role_changes (contract_id, position);
CREATE INDEX role_changes_login ON role_changes (login_key, position);
CREATE INDEX role_changes_actor ON role_changes (actor_key, position);
CREATE INDEX role_changes_time ON role_changes (occurred_at, position);
`

// RoleSet is one side of a role change: profiles per section and console
// roles. A change has no RoleSet (null) before an addition and after a
// removal: the user was not on the contract.
type RoleSet struct {
	Profiles map[string]string `json:"profiles"`
	Console  []string          `json:"console"`
}

func roleSet(r access.Roles) *RoleSet {
	s := &RoleSet{Profiles: r.Profiles.Map(), Console: r.Console.Names()}
	if s.Console == nil {
		s.Console = []string{}
	}
	return s
}

// RoleChangesProjector returns the projector of every role change:
// UserAddedToContract (before: none), RolesChanged (before → after) and
// UserRemovedFromContract (after: none), with the metadata auditors ask
// about (actor, source IP, request and correlation ids).
func RoleChangesProjector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    RoleChangesName,
		Version: 1,
		Schema:  roleChangesSchema,
		Types:   []string{"UserAddedToContract", "RolesChanged", "UserRemovedFromContract"},
		Handle: projections.Decoded(reg, func(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
			values, err := roleChangeRow(&rec, e)
			if err != nil {
				return err
			}
			_, err = tx.Exec(ctx, `
INSERT INTO role_changes (position, event_id, stream, version, event_type, change, occurred_at, contract_id,
    login, login_key, actor, actor_key, actor_kind, source_ip, request_id, correlation_id, before, after)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
ON CONFLICT (position) DO NOTHING`, values...)
			return err
		}),
		// Every row is final once added: a rebuild copies them as they come.
		Bulk: func() projections.Builder {
			var rows [][]any
			return projections.DecodedBuilder(reg, func(ev *projections.Stored, e domain.Event) error {
				rec, err := ev.DecodeMetadata()
				if err != nil {
					return err
				}
				values, err := roleChangeRow(&rec, e)
				rows = append(rows, values)
				return err
			}, func(bool) []projections.Rows {
				out := []projections.Rows{{Table: "role_changes", Columns: roleChangeColumns, Values: rows}}
				rows = nil
				return out
			})
		},
	}
}

var roleChangeColumns = []string{"position", "event_id", "stream", "version", "event_type", "change", "occurred_at", "contract_id",
	"login", "login_key", "actor", "actor_key", "actor_kind", "source_ip", "request_id", "correlation_id", "before", "after"}

// roleChangeRow is the row of a role change event, in roleChangeColumns'
// order.
func roleChangeRow(rec *eventstore.Record, e domain.Event) ([]any, error) {
	var c roleChange
	switch e := e.(type) {
	case membership.UserAddedToContract:
		c = roleChange{change: ChangeAdded, contract: e.ContractID, login: e.Login, actor: e.AddedBy,
			after: roleSet(access.Roles{Profiles: e.Profiles, Console: e.Console})}
	case membership.RolesChanged:
		c = roleChange{change: ChangeChanged, contract: e.ContractID, login: e.Login,
			before: roleSet(e.Before), after: roleSet(e.After)}
	case membership.UserRemovedFromContract:
		c = roleChange{change: ChangeRemoved, contract: e.ContractID, login: e.Login, before: roleSet(e.Before)}
	default:
		return nil, fmt.Errorf("role changes: unexpected event %T", e)
	}
	return c.values(rec)
}

type roleChange struct {
	change, contract, login, actor string
	before, after                  *RoleSet // nil: not on the contract
}

func (c roleChange) values(rec *eventstore.Record) ([]any, error) {
	md := rec.Metadata
	actor := md.Actor
	if actor == "" {
		actor = c.actor
	}
	before, err := json.Marshal(c.before)
	if err != nil {
		return nil, err
	}
	after, err := json.Marshal(c.after)
	if err != nil {
		return nil, err
	}
	return []any{rec.Position, rec.EventID, rec.StreamID, rec.Version, rec.Type, c.change, rec.RecordedAt, c.contract,
		c.login, identity.LoginKey(c.login), actor, identity.LoginKey(actor), md.ActorKind, md.SourceIP, md.RequestID, md.CorrelationID,
		before, after}, nil
}
