package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/operator"
	"selfcare/eventstore"
	"selfcare/internal/auth"
)

// Operators manages the named accounts of the back office and of auditors
// (SPEC §10, `selfcare operators`): an account's token is shown once and
// kept hashed; its name is the actor the event log records.
type Operators struct {
	*App
}

// OperatorInfo is an account as listed.
type OperatorInfo struct {
	Name      string
	Role      operator.Role
	CreatedAt time.Time
	RevokedAt *time.Time
}

// Add creates the account name with role and returns its token, which is
// never shown again. It returns a *domain.ValidationError for a bad name
// or role, and operator.ErrExists if the name was ever given.
func (o *Operators) Add(ctx context.Context, name, role string) (string, error) {
	n, err := operator.NewName(name)
	if err != nil {
		return "", err
	}
	r, err := operator.NewRole(role)
	if err != nil {
		return "", err
	}
	token, hash, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	err = o.decide(ctx, n, func(tx *eventstore.Tx, a operator.Account, now time.Time) ([]domain.Event, error) {
		events, err := a.Add(n, r, now)
		if err != nil {
			return nil, err
		}
		if _, err := tx.Pgx().Exec(ctx, `INSERT INTO operator_tokens (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
			n.String(), string(r), hash, now); err != nil {
			return nil, fmt.Errorf("store the operator's token: %w", err)
		}
		return events, nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// Revoke ends the account name: its token stops working at once. It
// returns operator.ErrNoAccount for a name never given.
func (o *Operators) Revoke(ctx context.Context, name string) error {
	n, err := operator.NewName(name)
	if err != nil {
		return err
	}
	return o.decide(ctx, n, func(tx *eventstore.Tx, a operator.Account, now time.Time) ([]domain.Event, error) {
		events, err := a.Revoke(n, now)
		if err != nil || len(events) == 0 {
			return nil, err
		}
		if _, err := tx.Pgx().Exec(ctx, `UPDATE operator_tokens SET revoked_at = $2 WHERE name = $1`, n.String(), now); err != nil {
			return nil, fmt.Errorf("revoke the operator's token: %w", err)
		}
		return events, nil
	})
}

// decide loads the account n, lets fn decide (and write its token's row)
// in the same transaction, and appends the events fn returns.
func (o *Operators) decide(ctx context.Context, n operator.Name, fn func(tx *eventstore.Tx, a operator.Account, now time.Time) ([]domain.Event, error)) error {
	_, err := o.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		var a operator.Account
		version, err := o.Load(ctx, tx, operator.Stream(n), &a)
		if err != nil {
			return err
		}
		events, err := fn(tx, a, o.Now())
		if err != nil || len(events) == 0 {
			return err
		}
		_, err = o.Append(ctx, tx, operator.Stream(n), eventstore.Exactly(version), "", events...)
		return err
	})
	return err
}

// List returns every account, revoked ones too, by name.
func (o *Operators) List(ctx context.Context) ([]OperatorInfo, error) {
	rows, err := o.Store.Pool().Query(ctx, `SELECT name, role, created_at, revoked_at FROM operator_tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (OperatorInfo, error) {
		var i OperatorInfo
		err := row.Scan(&i.Name, &i.Role, &i.CreatedAt, &i.RevokedAt)
		return i, err
	})
}

// Resolve returns the account whose token is token; ok is false for no
// account, or a revoked one.
func (o *Operators) Resolve(ctx context.Context, token string) (name string, role operator.Role, ok bool, err error) {
	err = o.Store.Pool().QueryRow(ctx, `SELECT name, role FROM operator_tokens WHERE token_hash = $1 AND revoked_at IS NULL`,
		auth.HashToken(token)).Scan(&name, &role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("operator token: %w", err)
	}
	return name, role, true, nil
}
