package subscriptions

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/domain/money"
	"selfcare/domain/subscription"
	"selfcare/projections"
)

// Queries reads the subscriptions read model.
type Queries struct {
	Pool *pgxpool.Pool
}

// Subscription is a subscription as the API shows it, with its status on
// the day AsOf.
type Subscription struct {
	Ref            string            `json:"ref"`
	ContractID     string            `json:"contract_id"`
	Name           string            `json:"name"`
	Type           string            `json:"type"`
	ServiceCode    string            `json:"service_code"`
	SubscribedAt   time.Time         `json:"subscribed_at"`
	StartDate      subscription.Date `json:"start_date"`
	EndDate        subscription.Date `json:"end_date"`
	DurationMonths int               `json:"duration_months"`
	MonthlyPrice   money.Amount      `json:"monthly_price"`
	InitialPayment money.Amount      `json:"initial_payment"`
	Region         string            `json:"region"`
	OrderRef       string            `json:"order_ref"`
	Status         string            `json:"status"`
	AsOf           subscription.Date `json:"as_of"`
	PlacedBy       string            `json:"placed_by,omitempty"`
	// StartedAt and EndedAt are when SubscriptionStarted and
	// SubscriptionEnded were recorded (absent until they are).
	StartedAt *time.Time `json:"started_at,omitempty"`
	EndedAt   *time.Time `json:"ended_at,omitempty"`
	// ContractName and ContractOffer are set in "my subscriptions".
	ContractName  string `json:"contract_name,omitempty"`
	ContractOffer string `json:"contract_offer,omitempty"`

	sortValue, sortKey string
}

// ErrNoSubscription: no such subscription (on this contract).
var ErrNoSubscription = fmt.Errorf("%w: no such subscription", domain.ErrNotFound)

// statusExpr is subscription.StatusOn in SQL, for the day $2: filtering
// and sorting by status need it in the query. The status shown is
// computed by StatusOn itself.
const statusExpr = `(CASE WHEN $2::date < s.start_date THEN 'subscribed' WHEN $2::date > s.end_date THEN 'terminated' ELSE 'in_progress' END)`

const columns = `s.ref, s.contract_id, s.name, s.type, s.service_code, s.subscribed_at, s.start_date::text, s.end_date::text,
       s.duration_months, s.monthly_price::text, s.initial_payment::text, s.region, s.order_ref, s.placed_by, s.started_at, s.ended_at`

func scan(row pgx.Row, asOf subscription.Date, extra ...any) (Subscription, error) {
	var s Subscription
	var start, end, monthly, initial string
	dest := []any{&s.Ref, &s.ContractID, &s.Name, &s.Type, &s.ServiceCode, &s.SubscribedAt, &start, &end,
		&s.DurationMonths, &monthly, &initial, &s.Region, &s.OrderRef, &s.PlacedBy, &s.StartedAt, &s.EndedAt}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return Subscription{}, err
	}
	var errs [4]error
	s.StartDate, errs[0] = subscription.ParseDate(start)
	s.EndDate, errs[1] = subscription.ParseDate(end)
	s.MonthlyPrice, errs[2] = money.Parse(monthly)
	s.InitialPayment, errs[3] = money.Parse(initial)
	if err := errors.Join(errs[:]...); err != nil {
		return Subscription{}, err
	}
	s.SubscribedAt = s.SubscribedAt.UTC()
	s.StartedAt, s.EndedAt = utc(s.StartedAt), utc(s.EndedAt)
	s.AsOf = asOf
	s.Status = string(subscription.StatusOn(s.StartDate, s.EndDate, asOf))
	return s, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// AsOf reads ?as_of=YYYY-MM-DD, the day statuses are computed for; today
// when absent.
func AsOf(params url.Values, today subscription.Date) (subscription.Date, error) {
	s := params.Get("as_of")
	if s == "" {
		return today, nil
	}
	d, err := subscription.ParseDate(s)
	if err != nil {
		return subscription.Date{}, domain.Invalid("as_of", "invalid", "as_of is a day written YYYY-MM-DD")
	}
	return d, nil
}

func statusFilter(params url.Values) (string, error) {
	s := params.Get("status")
	switch subscription.Status(s) {
	case "", subscription.StatusSubscribed, subscription.StatusInProgress, subscription.StatusTerminated:
		return s, nil
	}
	return "", domain.Invalid("status", "invalid", "status is subscribed, in_progress or terminated")
}

func sortable(extra map[string]projections.Column) map[string]projections.Column {
	m := map[string]projections.Column{
		"ref":             {Expr: "s.ref", Type: "text"},
		"name":            {Expr: "s.name", Type: "text"},
		"type":            {Expr: "s.type", Type: "text"},
		"subscribed_at":   {Expr: "s.subscribed_at", Type: "timestamptz"},
		"start_date":      {Expr: "s.start_date", Type: "date"},
		"end_date":        {Expr: "s.end_date", Type: "date"},
		"duration_months": {Expr: "s.duration_months", Type: "bigint"},
		"monthly_price":   {Expr: "s.monthly_price", Type: "numeric"},
		"initial_payment": {Expr: "s.initial_payment", Type: "numeric"},
		"region":          {Expr: "s.region", Type: "text"},
		"order_ref":       {Expr: "s.order_ref", Type: "text"},
		"status":          {Expr: statusExpr, Type: "text"},
	}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

// The guide's search box: "filter by reference, name, subscription date,
// start date or end date" (dates as the API writes them, or as French
// users type them).
var search = []string{"s.ref", "s.name", "s.type", "s.region", "s.order_ref",
	"to_char(s.subscribed_at AT TIME ZONE 'UTC', 'YYYY-MM-DD DD/MM/YYYY')",
	"to_char(s.start_date, 'YYYY-MM-DD DD/MM/YYYY')", "to_char(s.end_date, 'YYYY-MM-DD DD/MM/YYYY')"}

// ContractList is the list spec of a contract's subscriptions. Its status
// column reads the day from $2: callers pass it there.
var ContractList = projections.ListSpec{
	Sortable:    sortable(nil),
	DefaultSort: "-subscribed_at",
	Search:      search,
	Key:         projections.Column{Expr: "s.ref", Type: "text"},
}

// MyList is the list spec of "my subscriptions".
var MyList = projections.ListSpec{
	Sortable: sortable(map[string]projections.Column{
		"contract_id":    {Expr: "s.contract_id", Type: "text"},
		"contract_name":  {Expr: "c.name", Type: "text"},
		"contract_offer": {Expr: "c.offer", Type: "text"},
	}),
	DefaultSort: "-subscribed_at",
	Search:      append(append([]string(nil), search...), "s.contract_id", "c.name", "c.offer"),
	Key:         projections.Column{Expr: "s.ref", Type: "text"},
}

func parse(spec projections.ListSpec, params url.Values, today subscription.Date) (projections.ListParams, subscription.Date, string, error) {
	p, err1 := spec.ParseList(params)
	asOf, err2 := AsOf(params, today)
	status, err3 := statusFilter(params)
	var v domain.ValidationError
	for _, err := range []error{err1, err2, err3} {
		if err != nil && !v.Merge("", err) {
			return p, asOf, status, err
		}
	}
	return p, asOf, status, v.Err()
}

// List returns a page of contract cid's subscriptions, with their status
// on ?as_of= (today by default), filtered by ?status=.
func (q Queries) List(ctx context.Context, cid string, today subscription.Date, params url.Values) ([]Subscription, *string, error) {
	p, asOf, status, err := parse(ContractList, params, today)
	if err != nil {
		return nil, nil, err
	}
	b := ContractList.Build(p, 3)
	// Planned for this contract each time (an unnamed statement), not with
	// the generic plan a prepared statement ends up with: that one takes
	// every contract for an average one (a few dozen subscriptions) and
	// sorts a long-lived contract's thousands to show a page of them.
	rows, err := q.Pool.Query(ctx, `SELECT `+columns+`, `+ContractList.SortColumns(p)+`
FROM rm_subscriptions.subscriptions s
WHERE s.contract_id = $1 AND ($3 = '' OR `+statusExpr+` = $3)`+b.Where+b.OrderLimit,
		append([]any{pgx.QueryExecModeExec, cid, asOf.String(), status}, b.Args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("subscriptions: list of %s: %w", cid, err)
	}
	return collect(p, asOf, rows, false)
}

// Mine returns a page of login's validated subscriptions across the
// contracts they are declared on: those of the orders they placed, every
// one of the contracts they are referent of, and those of the contracts
// whose subscriptions section they may see.
func (q Queries) Mine(ctx context.Context, login string, today subscription.Date, params url.Values) ([]Subscription, *string, error) {
	p, asOf, status, err := parse(MyList, params, today)
	if err != nil {
		return nil, nil, err
	}
	b := MyList.Build(p, 3)
	rows, err := q.Pool.Query(ctx, `SELECT `+columns+`, c.name, c.offer, `+MyList.SortColumns(p)+`
FROM rm_subscriptions.subscriptions s
JOIN rm_members.members m ON m.contract_id = s.contract_id AND m.login_key = $1
JOIN rm_members.contracts c ON c.id = s.contract_id
WHERE (s.placed_by_key = $1 OR m.referent OR m.profiles->>'subscriptions' IN ('visitor', 'manager'))
  AND ($3 = '' OR `+statusExpr+` = $3)`+b.Where+b.OrderLimit,
		append([]any{identity.LoginKey(login), asOf.String(), status}, b.Args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("subscriptions: subscriptions of %s: %w", login, err)
	}
	return collect(p, asOf, rows, true)
}

func collect(p projections.ListParams, asOf subscription.Date, rows pgx.Rows, withContract bool) ([]Subscription, *string, error) {
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Subscription, error) {
		var value, k, cname, coffer string
		extra := []any{&value, &k}
		if withContract {
			extra = []any{&cname, &coffer, &value, &k}
		}
		s, err := scan(r, asOf, extra...)
		s.ContractName, s.ContractOffer, s.sortValue, s.sortKey = cname, coffer, value, k
		return s, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("subscriptions: list: %w", err)
	}
	items, next := projections.Page(p, list, func(s Subscription) (string, string) { return s.sortValue, s.sortKey })
	return items, next, nil
}

// Get returns subscription ref of contract cid with its status on ?as_of=
// (today by default); ErrNoSubscription if the contract has none such.
func (q Queries) Get(ctx context.Context, cid, ref string, today subscription.Date, params url.Values) (Subscription, error) {
	asOf, err := AsOf(params, today)
	if err != nil {
		return Subscription{}, err
	}
	s, err := scan(q.Pool.QueryRow(ctx, `SELECT `+columns+` FROM rm_subscriptions.subscriptions s WHERE s.contract_id = $1 AND s.ref = $2`,
		cid, ref), asOf)
	if errors.Is(err, pgx.ErrNoRows) {
		return Subscription{}, ErrNoSubscription
	}
	if err != nil {
		return Subscription{}, fmt.Errorf("subscriptions: %s: %w", ref, err)
	}
	return s, nil
}

// Due returns up to limit subscriptions whose SubscriptionStarted or
// SubscriptionEnded is due on day today and not recorded yet, the most
// overdue first: what the lifecycle scheduler has to do.
func (q Queries) Due(ctx context.Context, today subscription.Date, limit int) ([]string, error) {
	rows, err := q.Pool.Query(ctx, `
SELECT ref FROM (
    SELECT ref, start_date AS due FROM rm_subscriptions.subscriptions WHERE started_at IS NULL AND start_date <= $1::date
    UNION ALL
    SELECT ref, end_date + 1 AS due FROM rm_subscriptions.subscriptions WHERE ended_at IS NULL AND end_date < $1::date
) d GROUP BY ref ORDER BY min(due), ref LIMIT $2`, today.String(), limit)
	if err != nil {
		return nil, fmt.Errorf("subscriptions: due on %s: %w", today, err)
	}
	refs, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("subscriptions: due on %s: %w", today, err)
	}
	return refs, nil
}
