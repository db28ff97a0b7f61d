package audit

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/projections"
)

// Queries reads the audit read models.
type Queries struct {
	Pool *pgxpool.Pool
}

// RoleChange is one role change as the API shows it.
type RoleChange struct {
	Position      int64     `json:"position"`
	OccurredAt    time.Time `json:"occurred_at"`
	Contract      string    `json:"contract"`
	User          string    `json:"user"`
	Change        string    `json:"change"`
	Actor         string    `json:"actor"`
	ActorKind     string    `json:"actor_kind"`
	SourceIP      string    `json:"source_ip"`
	RequestID     string    `json:"request_id"`
	CorrelationID string    `json:"correlation_id"`
	Before        *RoleSet  `json:"before"` // null before an addition
	After         *RoleSet  `json:"after"`  // null after a removal
	EventID       uuid.UUID `json:"event_id"`
	EventType     string    `json:"event_type"`
	Stream        string    `json:"stream"`
	Version       int64     `json:"version"`
	sortValue     string
	sortKey       string
}

// RoleChangesList is the list spec of role changes: by position unless
// asked otherwise.
var RoleChangesList = projections.ListSpec{
	Sortable: map[string]projections.Column{
		"position":    {Expr: "r.position", Type: "bigint"},
		"occurred_at": {Expr: "r.occurred_at", Type: "timestamptz"},
		"contract":    {Expr: "r.contract_id", Type: "text"},
		"user":        {Expr: "r.login_key", Type: "text"},
		"actor":       {Expr: "r.actor_key", Type: "text"},
		"change":      {Expr: "r.change", Type: "text"},
	},
	DefaultSort: "position",
	Search:      []string{"r.login", "r.actor", "r.contract_id", "r.source_ip", "r.request_id", "r.correlation_id"},
	Key:         projections.Column{Expr: "r.position", Type: "bigint"},
}

// RoleChangeFilter narrows the role changes: on a contract, of a user
// (target), by an actor, in a time range. Empty fields do not filter.
type RoleChangeFilter struct {
	Contract string
	User     string
	Actor    string
	// From is inclusive; To is exclusive ("before"): a day given as To
	// (to=2026-10-31) means before the next midnight, the whole day in.
	From, To *time.Time
	toDay    bool
}

// ParseRoleChangeFilter reads ?contract=&user=&actor=&from=&to=. Times
// are RFC 3339 instants or YYYY-MM-DD days (UTC). It returns a
// *domain.ValidationError naming each bad parameter.
func ParseRoleChangeFilter(q url.Values) (RoleChangeFilter, error) {
	var v domain.ValidationError
	f := RoleChangeFilter{Contract: q.Get("contract"), User: q.Get("user"), Actor: q.Get("actor")}
	for name, val := range map[string]string{"contract": f.Contract, "user": f.User, "actor": f.Actor} {
		if len(val) > 200 {
			v.Add(name, "too_long", "at most 200 characters")
		}
	}
	f.From, _ = parseWhen(&v, "from", q.Get("from")) // a day starts at its midnight
	f.To, f.toDay = parseWhen(&v, "to", q.Get("to"))
	if f.From != nil && f.To != nil && f.upper().Before(*f.From) {
		v.Add("to", "before_from", "to is before from")
	}
	return f, v.Err()
}

func parseWhen(v *domain.ValidationError, name, s string) (*time.Time, bool) {
	if s == "" {
		return nil, false
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		t = t.UTC()
		return &t, false
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return &t, true
	}
	v.Add(name, "invalid", "%s is an RFC 3339 instant (2026-10-01T08:00:00Z) or a day (2026-10-01)", name)
	return nil, false
}

// upper is the exclusive upper bound: to, or the midnight after a day.
func (f RoleChangeFilter) upper() time.Time {
	if f.toDay {
		return f.To.AddDate(0, 0, 1)
	}
	return *f.To
}

// where returns the filter's SQL conditions (each starting with " AND ")
// and their arguments, numbered from $1.
func (f RoleChangeFilter) where() (string, []any) {
	var sql string
	var args []any
	add := func(cond string, arg any) {
		args = append(args, arg)
		sql += fmt.Sprintf(" AND "+cond, len(args))
	}
	if f.Contract != "" {
		add("r.contract_id = $%d", f.Contract)
	}
	if f.User != "" {
		add("r.login_key = $%d", identity.LoginKey(f.User))
	}
	if f.Actor != "" {
		add("r.actor_key = $%d", identity.LoginKey(f.Actor))
	}
	if f.From != nil {
		add("r.occurred_at >= $%d", *f.From)
	}
	if f.To != nil {
		add("r.occurred_at < $%d", f.upper())
	}
	return sql, args
}

// RoleChanges returns one page of the role changes matching f; params
// are the list parameters (?q=&sort=&limit=&cursor=).
func (q Queries) RoleChanges(ctx context.Context, f RoleChangeFilter, params url.Values) ([]RoleChange, *string, error) {
	p, err := RoleChangesList.ParseList(params)
	if err != nil {
		return nil, nil, err
	}
	where, args := f.where()
	b := RoleChangesList.Build(p, len(args))
	rows, err := q.Pool.Query(ctx, `
SELECT r.position, r.occurred_at, r.contract_id, r.login, r.change, r.actor, r.actor_kind, r.source_ip,
       r.request_id, r.correlation_id, r.before, r.after, r.event_id, r.event_type, r.stream, r.version,
       `+RoleChangesList.SortColumns(p)+`
FROM rm_role_changes.role_changes r
WHERE true`+where+b.Where+b.OrderLimit, append(args, b.Args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: role changes: %w", err)
	}
	list, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (RoleChange, error) {
		var c RoleChange
		var before, after []byte
		err := row.Scan(&c.Position, &c.OccurredAt, &c.Contract, &c.User, &c.Change, &c.Actor, &c.ActorKind, &c.SourceIP,
			&c.RequestID, &c.CorrelationID, &before, &after, &c.EventID, &c.EventType, &c.Stream, &c.Version,
			&c.sortValue, &c.sortKey)
		if err == nil {
			err = json.Unmarshal(before, &c.Before)
		}
		if err == nil {
			err = json.Unmarshal(after, &c.After)
		}
		c.OccurredAt = c.OccurredAt.UTC()
		return c, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("audit: role changes: %w", err)
	}
	items, next := projections.Page(p, list, func(c RoleChange) (string, string) { return c.sortValue, c.sortKey })
	return items, next, nil
}

// EachRoleChange calls fn with every role change matching f, in the
// order params ask for (?q= and ?sort= apply; ?limit= and ?cursor= do
// not: all pages are read, one at a time). It stops at fn's first error.
func (q Queries) EachRoleChange(ctx context.Context, f RoleChangeFilter, params url.Values, fn func(RoleChange) error) error {
	page := url.Values{"q": params["q"], "sort": params["sort"], "limit": {strconv.Itoa(projections.MaxLimit)}}
	for {
		items, next, err := q.RoleChanges(ctx, f, page)
		if err != nil {
			return err
		}
		for _, c := range items {
			if err := fn(c); err != nil {
				return err
			}
		}
		if next == nil {
			return nil
		}
		page.Set("cursor", *next)
	}
}
