package members

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/projections"
)

// Queries reads the members read model.
type Queries struct {
	Pool *pgxpool.Pool
}

// Roles returns what login holds on contract cid; found is false when the
// user is not declared on it (or the contract does not exist).
func (q Queries) Roles(ctx context.Context, cid, login string) (roles access.Roles, referent, found bool, err error) {
	var profiles []byte
	var console []string
	err = q.Pool.QueryRow(ctx, `SELECT profiles, console, referent FROM rm_members.members WHERE contract_id = $1 AND login_key = $2`,
		cid, identity.LoginKey(login)).Scan(&profiles, &console, &referent)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.Roles{}, false, false, nil
	}
	if err != nil {
		return access.Roles{}, false, false, fmt.Errorf("members: roles: %w", err)
	}
	if err := json.Unmarshal(profiles, &roles.Profiles); err != nil {
		return access.Roles{}, false, false, fmt.Errorf("members: profiles of %s on %s: %w", login, cid, err)
	}
	roles.Console = access.RestoreConsoleRoles(console)
	return roles, referent, true, nil
}

// Contract is a contract as the API shows it.
type Contract struct {
	ID             string                  `json:"id"`
	Name           string                  `json:"name"`
	Offer          string                  `json:"offer"`
	PlatformID     string                  `json:"platform_id"`
	CreatedOn      string                  `json:"created_on"`
	ReferentLogin  string                  `json:"referent_login"`
	Company        *contract.Company       `json:"company,omitempty"`
	InvoiceContact contract.Contact        `json:"-"`
	SupportContact contract.SupportContact `json:"-"`
	ConsoleGroups  []string                `json:"-"`
	CreatedAt      time.Time               `json:"-"`
}

// ErrNoContract: no such contract.
var ErrNoContract = fmt.Errorf("%w: no such contract", domain.ErrNotFound)

// Contract returns contract cid, with its company.
func (q Queries) Contract(ctx context.Context, cid string) (Contract, error) {
	var c Contract
	var company, invoice, support []byte
	var created time.Time
	err := q.Pool.QueryRow(ctx, `
SELECT id, name, offer, platform_id, created_on, created_at, company, invoice_contact, support_contact, referent_login, console_groups
FROM rm_members.contracts WHERE id = $1`, cid).Scan(&c.ID, &c.Name, &c.Offer, &c.PlatformID, &created, &c.CreatedAt,
		&company, &invoice, &support, &c.ReferentLogin, &c.ConsoleGroups)
	if errors.Is(err, pgx.ErrNoRows) {
		return Contract{}, ErrNoContract
	}
	if err != nil {
		return Contract{}, fmt.Errorf("members: contract %s: %w", cid, err)
	}
	c.CreatedOn = created.Format(time.DateOnly)
	c.Company = &contract.Company{}
	if err := errors.Join(json.Unmarshal(company, c.Company), json.Unmarshal(invoice, &c.InvoiceContact), json.Unmarshal(support, &c.SupportContact)); err != nil {
		return Contract{}, fmt.Errorf("members: contract %s: %w", cid, err)
	}
	return c, nil
}

// ContractSummary is a line of "my contracts".
type ContractSummary struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Offer      string `json:"offer"`
	PlatformID string `json:"platform_id"`
	CreatedOn  string `json:"created_on"`
	Referent   bool   `json:"referent"`
	sortValue  string
	sortKey    string
}

// MyContractsList is the list spec of "my contracts".
var MyContractsList = projections.ListSpec{
	Sortable: map[string]projections.Column{
		"id":          {Expr: "c.id", Type: "text"},
		"name":        {Expr: "c.name", Type: "text"},
		"offer":       {Expr: "c.offer", Type: "text"},
		"platform_id": {Expr: "c.platform_id", Type: "text"},
		"created_on":  {Expr: "c.created_on", Type: "date"},
	},
	DefaultSort: "id",
	Search:      []string{"c.id", "c.name", "c.offer", "c.platform_id"},
	Key:         projections.Column{Expr: "c.id", Type: "text"},
}

// ContractsOf lists the contracts login is declared on.
func (q Queries) ContractsOf(ctx context.Context, login string, params url.Values) ([]ContractSummary, *string, error) {
	p, err := MyContractsList.ParseList(params)
	if err != nil {
		return nil, nil, err
	}
	b := MyContractsList.Build(p, 1)
	rows, err := q.Pool.Query(ctx, `
SELECT c.id, c.name, c.offer, c.platform_id, c.created_on::text, m.referent, `+MyContractsList.SortColumns(p)+`
FROM rm_members.members m JOIN rm_members.contracts c ON c.id = m.contract_id
WHERE m.login_key = $1`+b.Where+b.OrderLimit, append([]any{identity.LoginKey(login)}, b.Args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("members: contracts of %s: %w", login, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (ContractSummary, error) {
		var c ContractSummary
		err := r.Scan(&c.ID, &c.Name, &c.Offer, &c.PlatformID, &c.CreatedOn, &c.Referent, &c.sortValue, &c.sortKey)
		return c, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("members: contracts of %s: %w", login, err)
	}
	items, next := projections.Page(p, list, func(c ContractSummary) (string, string) { return c.sortValue, c.sortKey })
	return items, next, nil
}

// SessionMember resolves a signed-in user's session and their standing on
// contract cid in one query, for the authorizer of a contract's endpoints
// (one round trip per request instead of two). It reads the sessions side
// table of the command side (migration 0002) beside this read model. ok is
// false for an unknown, expired or revoked session; found is false when
// the session's user is not declared on the contract.
func (q Queries) SessionMember(ctx context.Context, tokenHash []byte, now time.Time, cid string) (login string, roles access.Roles, referent, found, ok bool, err error) {
	return scanSessionMember(q.Pool.QueryRow(ctx, sessionMemberSQL, tokenHash, now, cid), cid)
}

// SessionMemberAnd is SessionMember with read sent in the same round trip:
// one batch, which the database runs after the session check, in the same
// implicit transaction. When it returns no error, rows is read's result,
// not looked at yet, and done must be called once the caller has read
// them, or decided not to (a refused caller): done discards whatever is
// left and gives the connection back. On an error nothing is to be done.
func (q Queries) SessionMemberAnd(ctx context.Context, tokenHash []byte, now time.Time, cid string, read projections.Read) (
	login string, roles access.Roles, referent, found, ok bool, rows pgx.Rows, done func(), err error) {
	batch := &pgx.Batch{}
	batch.Queue(sessionMemberSQL, tokenHash, now, cid)
	batch.Queue(read.SQL, read.Args...)
	br := q.Pool.SendBatch(ctx, batch)
	login, roles, referent, found, ok, err = scanSessionMember(br.QueryRow(), cid)
	if err == nil {
		rows, err = br.Query()
	}
	if err != nil {
		if rows != nil {
			rows.Close()
		}
		_ = br.Close()
		return "", access.Roles{}, false, false, false, nil, nil, err
	}
	done = func() {
		rows.Close() // before the batch: its remaining rows are read first
		_ = br.Close()
	}
	return login, roles, referent, found, ok, rows, done, nil
}

const sessionMemberSQL = `
SELECT s.login, m.profiles, m.console, m.referent, m.login_key IS NOT NULL
FROM sessions s LEFT JOIN rm_members.members m ON m.contract_id = $3 AND m.login_key = s.login_key
WHERE s.token_hash = $1 AND s.purpose = 'api' AND s.revoked_at IS NULL AND s.expires_at > $2`

func scanSessionMember(row pgx.Row, cid string) (login string, roles access.Roles, referent, found, ok bool, err error) {
	var profiles []byte
	var console []string
	var isReferent *bool
	var member bool
	err = row.Scan(&login, &profiles, &console, &isReferent, &member)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", access.Roles{}, false, false, false, nil
	}
	if err != nil {
		return "", access.Roles{}, false, false, false, fmt.Errorf("members: session and roles: %w", err)
	}
	if !member {
		return login, access.Roles{}, false, false, true, nil
	}
	referent = isReferent != nil && *isReferent
	if err := json.Unmarshal(profiles, &roles.Profiles); err != nil {
		return "", access.Roles{}, false, false, false, fmt.Errorf("members: profiles of %s on %s: %w", login, cid, err)
	}
	roles.Console = access.RestoreConsoleRoles(console)
	return login, roles, referent, true, true, nil
}

// ConsoleRoles returns login's console roles on contract cid (empty when
// they are not declared on it), and whether the contract exists.
func (q Queries) ConsoleRoles(ctx context.Context, cid, login string) (roles access.ConsoleRoles, contractExists bool, err error) {
	var console []string
	err = q.Pool.QueryRow(ctx, `
SELECT m.console FROM rm_members.contracts c
LEFT JOIN rm_members.members m ON m.contract_id = c.id AND m.login_key = $2
WHERE c.id = $1`, cid, identity.LoginKey(login)).Scan(&console)
	if errors.Is(err, pgx.ErrNoRows) {
		return access.ConsoleRoles{}, false, nil
	}
	if err != nil {
		return access.ConsoleRoles{}, false, fmt.Errorf("members: console roles: %w", err)
	}
	return access.RestoreConsoleRoles(console), true, nil
}
