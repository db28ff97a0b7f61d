package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"selfcare/domain"
	"selfcare/internal/auth"
)

// Operator roles: an admin acts for the back office, an auditor reads the
// audit and the event feed.
const (
	RoleAdmin   = "admin"
	RoleAuditor = "auditor"
)

// The bootstrap actors: whoever holds SELFCARE_ADMIN_TOKEN or
// SELFCARE_AUDITOR_TOKEN. Those tokens name nobody, so the events they
// cause say so; named operators are for everyday work.
const (
	BootstrapAdmin   = "bootstrap-admin"
	BootstrapAuditor = "bootstrap-auditor"
)

// OperatorTokenPrefix starts every operator token, so that the server
// looks a token up among operators or among sessions without trying both.
const OperatorTokenPrefix = "op_"

// Operator is a named back-office or auditor account.
type Operator struct {
	Name      string
	Role      string
	CreatedAt time.Time
	RevokedAt *time.Time
}

// ErrUnknownOperator is returned for a token or name that is no live
// operator's.
var ErrUnknownOperator = fmt.Errorf("%w: unknown or revoked operator token", domain.ErrUnauthenticated)

// operatorName is what a name may look like: it is recorded as the actor
// of events, next to users' logins.
var operatorName = regexp.MustCompile(`^[a-z][a-z0-9._-]{1,63}$`)

// Operators manages the named operator accounts (selfcare operators ...)
// and resolves their tokens.
type Operators struct {
	*App
}

// Add creates the operator name with role and returns its token, which is
// shown once and stored only hashed. It returns a *domain.ValidationError
// for a malformed name or role, and a domain.ErrConflict if the name was
// ever used (a revoked name stays taken, so that the audit trail names one
// person).
func (o *Operators) Add(ctx context.Context, name, role string) (string, error) {
	var v domain.ValidationError
	if !operatorName.MatchString(name) || strings.HasPrefix(name, "bootstrap-") {
		v.Add("name", "invalid", "a name is 2 to 64 characters a-z 0-9 . _ -, starting with a letter, not bootstrap-…")
	}
	if role != RoleAdmin && role != RoleAuditor {
		v.Add("role", "invalid", "the role is %s or %s", RoleAdmin, RoleAuditor)
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	random, _, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	token := OperatorTokenPrefix + random
	hash := auth.HashToken(token)
	_, err = o.Store.Pool().Exec(ctx, `INSERT INTO operators (name, role, token_hash, created_at) VALUES ($1, $2, $3, $4)`,
		name, role, hash, o.Now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return "", domain.Conflictf("operator %q already exists (revoked names are not reused)", name)
	}
	if err != nil {
		return "", fmt.Errorf("add operator: %w", err)
	}
	return token, nil
}

// List returns every operator, revoked ones included, by name.
func (o *Operators) List(ctx context.Context) ([]Operator, error) {
	rows, err := o.Store.Pool().Query(ctx, `SELECT name, role, created_at, revoked_at FROM operators ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list operators: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Operator, error) {
		var op Operator
		err := row.Scan(&op.Name, &op.Role, &op.CreatedAt, &op.RevokedAt)
		return op, err
	})
}

// Revoke ends the operator name's token at once. It returns
// domain.ErrNotFound for a name that is no live operator's.
func (o *Operators) Revoke(ctx context.Context, name string) error {
	tag, err := o.Store.Pool().Exec(ctx, `UPDATE operators SET revoked_at = $2 WHERE name = $1 AND revoked_at IS NULL`, name, o.Now())
	if err != nil {
		return fmt.Errorf("revoke operator: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: no live operator %q", domain.ErrNotFound, name)
	}
	return nil
}

// Resolve returns the live operator holding token; ErrUnknownOperator
// otherwise.
func (o *Operators) Resolve(ctx context.Context, token string) (Operator, error) {
	var op Operator
	err := o.Store.Pool().QueryRow(ctx, `
SELECT name, role, created_at FROM operators WHERE token_hash = $1 AND revoked_at IS NULL`,
		auth.HashToken(token)).Scan(&op.Name, &op.Role, &op.CreatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Operator{}, ErrUnknownOperator
	}
	if err != nil {
		return Operator{}, fmt.Errorf("resolve operator: %w", err)
	}
	return op, nil
}
