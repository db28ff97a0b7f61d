package orders

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/identity"
	"selfcare/domain/money"
	"selfcare/domain/order"
	"selfcare/projections"
)

// Queries reads the orders read model.
type Queries struct {
	Pool *pgxpool.Pool
}

// Order is an order as the API shows it.
type Order struct {
	Ref        string    `json:"ref"`
	ContractID string    `json:"contract_id"`
	PlacedAt   time.Time `json:"placed_at"`
	Name       string    `json:"name"`
	// Names is the name in each language of the customer area ("en",
	// "fr"); Name is the one stored, in English.
	Names          map[string]string `json:"names,omitempty"`
	ServiceCode    string            `json:"service_code"`
	ServiceName    string            `json:"service_name"`
	Kind           string            `json:"kind"`
	Price          money.Amount      `json:"price"`
	MonthlyPrice   *money.Amount     `json:"monthly_price,omitempty"`
	InitialPayment *money.Amount     `json:"initial_payment,omitempty"`
	DurationMonths int               `json:"duration_months,omitempty"`
	PlacedBy       string            `json:"placed_by"`
	Parameters     map[string]string `json:"parameters"`
	Contact        *order.Contact    `json:"contact,omitempty"`
	// State is what may change after the order is placed; the fields
	// above never do.
	State
}

// State is the part of an order that changes after it is placed (and,
// in "my orders", the contract it is on).
type State struct {
	Status       string     `json:"status"`
	CompletedAt  *time.Time `json:"completed_at,omitempty"`
	RejectedAt   *time.Time `json:"rejected_at,omitempty"`
	RejectReason string     `json:"reject_reason,omitempty"`
	// SubscriptionRef is the subscription a completed reservation created.
	SubscriptionRef string `json:"subscription_ref,omitempty"`
	// ContractName and ContractOffer are set in "my orders", which spans
	// contracts.
	ContractName  string `json:"contract_name,omitempty"`
	ContractOffer string `json:"contract_offer,omitempty"`
}

// View is an order as the read model serves it: the JSON its placing
// fixed, rendered once when the order was projected, and its State read
// with it. It encodes as the Order it is.
type View struct {
	placed []byte
	State

	sortValue, sortKey string
}

// AppendJSON appends v as encoding/json would encode its Order.
func (v View) AppendJSON(b []byte) []byte {
	return v.State.appendJSON(append(b, v.placed...))
}

// MarshalJSON is AppendJSON for encoding/json.
func (v View) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(nil), nil
}

// ErrNoOrder: no such order (on this contract).
var ErrNoOrder = fmt.Errorf("%w: no such order", domain.ErrNotFound)

// columns are what a View is read from, in viewScanner's order.
const columns = `o.placed_json, o.ref, o.kind, o.status, o.completed_at, o.rejected_at, o.reject_reason`

// viewScanner scans rows of columns (and, in "my orders", the contract's
// name and offer, and in lists the two sort texts) into Views. The placed
// documents of its rows are copied one after the other into one buffer,
// and its destinations are reused from row to row.
type viewScanner struct {
	placed    pgtype.DriverBytes
	ref, kind string
	state     State
	sort      [2]string
	dest      []any
	documents []byte
}

func newViewScanner(rows int, withContract, sorted bool) *viewScanner {
	s := &viewScanner{documents: make([]byte, 0, rows*768)}
	s.dest = []any{&s.placed, &s.ref, &s.kind, &s.state.Status, &s.state.CompletedAt, &s.state.RejectedAt, &s.state.RejectReason}
	if withContract {
		s.dest = append(s.dest, &s.state.ContractName, &s.state.ContractOffer)
	}
	if sorted {
		s.dest = append(s.dest, &s.sort[0], &s.sort[1])
	}
	return s
}

func (s *viewScanner) scan(rows pgx.Rows) (View, error) {
	s.state = State{}
	if err := rows.Scan(s.dest...); err != nil {
		return View{}, err
	}
	start := len(s.documents)
	s.documents = append(s.documents, s.placed...)
	v := View{placed: s.documents[start:len(s.documents):len(s.documents)], State: s.state, sortValue: s.sort[0], sortKey: s.sort[1]}
	if s.kind == string(catalog.KindReservation) && v.Status == string(order.StatusCompleted) {
		v.SubscriptionRef = s.ref // a subscription is referenced like its order
	}
	v.CompletedAt = utc(v.CompletedAt)
	v.RejectedAt = utc(v.RejectedAt)
	return v, nil
}

// one reads the one View of rows; pgx.ErrNoRows if there is none.
func one(rows pgx.Rows) (View, error) {
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return View{}, err
		}
		return View{}, pgx.ErrNoRows
	}
	v, err := newViewScanner(1, false, false).scan(rows)
	if err != nil {
		return View{}, err
	}
	rows.Close()
	return v, rows.Err()
}

func amountPtr(s *string) (*money.Amount, error) {
	if s == nil {
		return nil, nil
	}
	a, err := money.Parse(*s)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

// Get returns order ref of contract cid; ErrNoOrder if the contract has no
// such order.
func (q Queries) Get(ctx context.Context, cid, ref string) (View, error) {
	return q.view(ctx, ref, GetRead(cid, ref))
}

// GetRead is the query Get runs, for the authorizer to send with the
// session check.
func GetRead(cid, ref string) projections.Read {
	return projections.Read{SQL: `SELECT ` + columns + ` FROM rm_orders.orders o WHERE o.contract_id = $1 AND o.ref = $2`, Args: []any{cid, ref}}
}

// ByRef returns order ref, whatever its contract (for the back office);
// ErrNoOrder if there is none.
func (q Queries) ByRef(ctx context.Context, ref string) (View, error) {
	return q.view(ctx, ref, projections.Read{SQL: `SELECT ` + columns + ` FROM rm_orders.orders o WHERE o.ref = $1`, Args: []any{ref}})
}

// view runs read, a query of order ref's row, and returns its View;
// ErrNoOrder if it found none.
func (q Queries) view(ctx context.Context, ref string, read projections.Read) (View, error) {
	rows, err := projections.Run(ctx, q.Pool, read)
	if err != nil {
		return View{}, fmt.Errorf("orders: order %s: %w", ref, err)
	}
	v, err := one(rows)
	if errors.Is(err, pgx.ErrNoRows) {
		return View{}, ErrNoOrder
	}
	if err != nil {
		return View{}, fmt.Errorf("orders: order %s: %w", ref, err)
	}
	return v, nil
}

// ContractList is the list spec of a contract's orders.
var ContractList = projections.ListSpec{
	Sortable: map[string]projections.Column{
		"ref":          {Expr: "o.seq", Type: "bigint"},
		"placed_at":    {Expr: "o.placed_at", Type: "timestamptz"},
		"name":         {Expr: "o.name", Type: "text"},
		"service_code": {Expr: "o.service_code", Type: "text"},
		"price":        {Expr: "o.price", Type: "numeric"},
		"placed_by":    {Expr: "o.placed_by", Type: "text"},
		"status":       {Expr: "o.status", Type: "text"},
	},
	DefaultSort: "-placed_at",
	Search:      []string{"o.ref", "o.name", "o.service_code", "o.service_name", "o.placed_by", "o.status", "o.parameters::text"},
	Key:         projections.Column{Expr: "o.ref", Type: "text"},
}

// MyList is the list spec of "my orders": the contract's columns too.
var MyList = projections.ListSpec{
	Sortable: map[string]projections.Column{
		"ref":            {Expr: "o.ref", Type: "text"},
		"placed_at":      {Expr: "o.placed_at", Type: "timestamptz"},
		"name":           {Expr: "o.name", Type: "text"},
		"service_code":   {Expr: "o.service_code", Type: "text"},
		"price":          {Expr: "o.price", Type: "numeric"},
		"placed_by":      {Expr: "o.placed_by", Type: "text"},
		"status":         {Expr: "o.status", Type: "text"},
		"contract_id":    {Expr: "o.contract_id", Type: "text"},
		"contract_name":  {Expr: "c.name", Type: "text"},
		"contract_offer": {Expr: "c.offer", Type: "text"},
	},
	DefaultSort: "-placed_at",
	Search: []string{"o.ref", "o.name", "o.service_code", "o.service_name", "o.placed_by", "o.status", "o.parameters::text",
		"o.contract_id", "c.name", "c.offer"},
	Key: projections.Column{Expr: "o.ref", Type: "text"},
}

// statusFilter reads ?status=, which keeps orders of one status.
func statusFilter(params url.Values) (string, error) {
	s := params.Get("status")
	switch order.Status(s) {
	case "", order.StatusInProgress, order.StatusCompleted, order.StatusRejected:
		return s, nil
	}
	return "", domain.Invalid("status", "invalid", "status is in_progress, completed or rejected")
}

// List returns a page of contract cid's orders (?q=&sort=&limit=&cursor=
// and ?status=).
func (q Queries) List(ctx context.Context, cid string, params url.Values) ([]View, *string, error) {
	read, p, err := ListRead(cid, params)
	if err != nil {
		return nil, nil, err
	}
	rows, err := projections.Run(ctx, q.Pool, read)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: list of %s: %w", cid, err)
	}
	return collect(p, rows)
}

// ListRead is the query List runs for these parameters, for the
// authorizer to send with the session check; a validation error for
// parameters List refuses.
func ListRead(cid string, params url.Values) (projections.Read, projections.ListParams, error) {
	p, err := ContractList.ParseList(params)
	status, serr := statusFilter(params)
	if err := joinValidation(err, serr); err != nil {
		return projections.Read{}, p, err
	}
	b := ContractList.Build(p, 2)
	return projections.Read{
		SQL: `SELECT ` + columns + `, ` + ContractList.SortColumns(p) + `
FROM rm_orders.orders o WHERE o.contract_id = $1 AND ($2 = '' OR o.status = $2)` + b.Where + b.OrderLimit,
		Args: append([]any{cid, status}, b.Args...),
	}, p, nil
}

// Mine returns a page of login's orders across their contracts (SPEC §4):
// the orders they placed on the contracts they are declared on, and every
// order of the contracts they are the referent of.
func (q Queries) Mine(ctx context.Context, login string, params url.Values) ([]View, *string, error) {
	p, err := MyList.ParseList(params)
	status, serr := statusFilter(params)
	if err := joinValidation(err, serr); err != nil {
		return nil, nil, err
	}
	b := MyList.Build(p, 2)
	rows, err := q.Pool.Query(ctx, `SELECT `+columns+`, c.name, c.offer, `+MyList.SortColumns(p)+`
FROM rm_orders.orders o
JOIN rm_members.members m ON m.contract_id = o.contract_id AND m.login_key = $1
JOIN rm_members.contracts c ON c.id = o.contract_id
WHERE (o.placed_by_key = $1 OR m.referent) AND ($2 = '' OR o.status = $2)`+b.Where+b.OrderLimit,
		append([]any{identity.LoginKey(login), status}, b.Args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("orders: orders of %s: %w", login, err)
	}
	return collect(p, rows, true)
}

func collect(p projections.ListParams, rows pgx.Rows, withContract ...bool) ([]View, *string, error) {
	defer rows.Close()
	list := make([]View, 0, p.Limit+1)
	s := newViewScanner(p.Limit+1, len(withContract) > 0, true)
	for rows.Next() {
		v, err := s.scan(rows)
		if err != nil {
			return nil, nil, fmt.Errorf("orders: list: %w", err)
		}
		list = append(list, v)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("orders: list: %w", err)
	}
	items, next := projections.Page(p, list, func(v View) (string, string) { return v.sortValue, v.sortKey })
	return items, next, nil
}

// joinValidation merges the validation errors of a request's parameters.
func joinValidation(errs ...error) error {
	var v domain.ValidationError
	for _, err := range errs {
		if err == nil {
			continue
		}
		if !v.Merge("", err) {
			return err
		}
	}
	return v.Err()
}

// Placed is order e as this read model shows it right after it is placed:
// what a client placing it is answered without waiting for the read model
// (the same fields as Get, to the microsecond PostgreSQL keeps).
func Placed(e order.OrderPlaced) (Order, error) {
	o := Order{
		Ref: e.Ref, ContractID: e.ContractID, PlacedAt: e.PlacedAt.UTC().Truncate(time.Microsecond), Name: e.Name(),
		ServiceCode: e.ServiceCode, ServiceName: e.ServiceName, Kind: string(e.Kind), DurationMonths: e.DurationMonths,
		PlacedBy: e.PlacedBy, Parameters: map[string]string{}, State: State{Status: string(order.StatusInProgress)},
	}
	var err error
	// Through text, as the read model's numeric columns are.
	if o.Price, err = money.Parse(e.Price.String()); err != nil {
		return Order{}, err
	}
	if e.MonthlyPrice != nil {
		s := e.MonthlyPrice.String()
		if o.MonthlyPrice, err = amountPtr(&s); err != nil {
			return Order{}, err
		}
	}
	if e.InitialPayment != nil {
		s := e.InitialPayment.String()
		if o.InitialPayment, err = amountPtr(&s); err != nil {
			return Order{}, err
		}
	}
	for k, v := range e.Parameters {
		o.Parameters[k] = v
	}
	o.Names = catalog.Default().Names(o.ServiceCode, o.Parameters)
	if e.Contact != nil {
		c := *e.Contact
		o.Contact = &c
	}
	return o, nil
}
