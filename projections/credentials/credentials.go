// Package credentials is the read model of console API credentials: the
// access keys of each console account (never their secrets) and when its
// API password was set.
package credentials

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/console"
	"selfcare/domain/identity"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/projections"
)

// Name of the projector; its tables are in schema rm_credentials.
const Name = "credentials"

const schema = `
CREATE TABLE access_keys (
    access_key_id text PRIMARY KEY,
    contract_id   text NOT NULL,
    login_key     text NOT NULL,
    created_at    timestamptz NOT NULL,
    position      bigint NOT NULL
);
CREATE INDEX access_keys_account ON access_keys (contract_id, login_key, position);

CREATE TABLE api_passwords (
    contract_id text NOT NULL,
    login_key   text NOT NULL,
    set_at      timestamptz NOT NULL,
    PRIMARY KEY (contract_id, login_key)
);
`

// Projector returns the credentials projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 1,
		Schema:  schema,
		Types:   []string{"ApiPasswordSet", "ApiPasswordRemoved", "AccessKeyCreated", "AccessKeyDeleted"},
		Bulk: func() projections.Builder {
			b := &builder{keys: map[string][]any{}, passwords: map[[2]string]time.Time{}}
			return projections.DecodedBuilder(reg, b.apply, b.rows)
		},
		Handle: projections.Decoded(reg, func(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
			var err error
			switch e := e.(type) {
			case console.ApiPasswordSet:
				_, err = tx.Exec(ctx, `
INSERT INTO api_passwords (contract_id, login_key, set_at) VALUES ($1, $2, $3)
ON CONFLICT (contract_id, login_key) DO UPDATE SET set_at = excluded.set_at`, e.ContractID, identity.LoginKey(e.Login), e.At)
			case console.ApiPasswordRemoved:
				_, err = tx.Exec(ctx, `DELETE FROM api_passwords WHERE contract_id = $1 AND login_key = $2`, e.ContractID, identity.LoginKey(e.Login))
			case console.AccessKeyCreated:
				_, err = tx.Exec(ctx, `
INSERT INTO access_keys (access_key_id, contract_id, login_key, created_at, position) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (access_key_id) DO NOTHING`, e.AccessKeyID, e.ContractID, identity.LoginKey(e.Login), e.At, rec.Position)
			case console.AccessKeyDeleted:
				_, err = tx.Exec(ctx, `DELETE FROM access_keys WHERE access_key_id = $1`, e.AccessKeyID)
			default:
				return fmt.Errorf("credentials: unexpected event %T", e)
			}
			return err
		}),
	}
}

// builder is the rebuild's fold: the access keys and API passwords that
// exist at the end, written then.
type builder struct {
	keys      map[string][]any // access_key_id → row
	passwords map[[2]string]time.Time
}

func (b *builder) apply(ev *projections.Stored, e domain.Event) error {
	switch e := e.(type) {
	case console.ApiPasswordSet:
		b.passwords[[2]string{e.ContractID, identity.LoginKey(e.Login)}] = e.At
	case console.ApiPasswordRemoved:
		delete(b.passwords, [2]string{e.ContractID, identity.LoginKey(e.Login)})
	case console.AccessKeyCreated:
		if _, dup := b.keys[e.AccessKeyID]; !dup {
			b.keys[e.AccessKeyID] = []any{e.AccessKeyID, e.ContractID, identity.LoginKey(e.Login), e.At, ev.Position}
		}
	case console.AccessKeyDeleted:
		delete(b.keys, e.AccessKeyID)
	default:
		return fmt.Errorf("credentials: unexpected event %T", e)
	}
	return nil
}

func (b *builder) rows(final bool) []projections.Rows {
	if !final {
		return nil
	}
	keys := slices.Collect(maps.Values(b.keys))
	var passwords [][]any
	for k, at := range b.passwords {
		passwords = append(passwords, []any{k[0], k[1], at})
	}
	return []projections.Rows{
		{Table: "access_keys", Columns: []string{"access_key_id", "contract_id", "login_key", "created_at", "position"}, Values: keys},
		{Table: "api_passwords", Columns: []string{"contract_id", "login_key", "set_at"}, Values: passwords},
	}
}

// AccessKey is a listed access key.
type AccessKey struct {
	ID        string    `json:"access_key_id"`
	CreatedAt time.Time `json:"created_at"`
	Status    string    `json:"status"`
}

// Queries reads the credentials read model.
type Queries struct {
	Pool *pgxpool.Pool
}

// AccessKeys lists the access keys of login's console account on cid, in
// the order they were created (at most two).
func (q Queries) AccessKeys(ctx context.Context, cid, login string) ([]AccessKey, error) {
	rows, err := q.Pool.Query(ctx, `
SELECT access_key_id, created_at FROM rm_credentials.access_keys WHERE contract_id = $1 AND login_key = $2
ORDER BY position`, cid, identity.LoginKey(login))
	if err != nil {
		return nil, fmt.Errorf("credentials: access keys: %w", err)
	}
	keys, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (AccessKey, error) {
		k := AccessKey{Status: "active"}
		err := r.Scan(&k.ID, &k.CreatedAt)
		k.CreatedAt = k.CreatedAt.UTC()
		return k, err
	})
	if err != nil {
		return nil, fmt.Errorf("credentials: access keys: %w", err)
	}
	return keys, nil
}

// APIPasswordSetAt tells when login's API password on cid was set (nil:
// never, or removed).
func (q Queries) APIPasswordSetAt(ctx context.Context, cid, login string) (*time.Time, error) {
	var at time.Time
	err := q.Pool.QueryRow(ctx, `SELECT set_at FROM rm_credentials.api_passwords WHERE contract_id = $1 AND login_key = $2`,
		cid, identity.LoginKey(login)).Scan(&at)
	if err == pgx.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("credentials: API password: %w", err)
	}
	at = at.UTC()
	return &at, nil
}
