// Package orders is the read model of orders: every order of every
// contract, its parameters, price, placer and status, for the contract's
// orders section and "my orders".
package orders

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/projections"
)

// Name of the projector; its tables are in schema rm_orders.
const Name = "orders"

const schema = `
CREATE TABLE orders (
    ref             text PRIMARY KEY,
    contract_id     text NOT NULL,
    seq             integer NOT NULL,
    placed_at       timestamptz NOT NULL,
    name            text NOT NULL,
    service_code    text NOT NULL,
    service_name    text NOT NULL,
    kind            text NOT NULL,
    price           numeric(14,2) NOT NULL,
    parameters      jsonb NOT NULL,
    placed_by       text NOT NULL,
    placed_by_key   text NOT NULL,
    status          text NOT NULL,
    completed_at    timestamptz,
    rejected_at     timestamptz,
    reject_reason   text NOT NULL DEFAULT '',
    -- The order's JSON as its placing fixed it (Order.appendPlaced): a
    -- read appends the state columns to it instead of rendering the order.
    -- What only the JSON shows (other prices, term, contact) has no column.
    placed_json     text NOT NULL
);
CREATE INDEX orders_contract ON orders (contract_id, placed_at);
CREATE INDEX orders_placer ON orders (placed_by_key);
`

// Projector returns the orders projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 2, // 2: placed_json
		Schema:  schema,
		Types:   []string{"OrderPlaced", "OrderCompleted", "OrderRejected"},
		Handle:  projections.Decoded(reg, apply),
		Bulk: func() projections.Builder {
			b := &builder{open: map[string]*openOrder{}, closed: map[string]bool{}}
			return projections.DecodedBuilder(reg, b.apply, b.rows)
		},
	}
}

// placedColumns are the columns an OrderPlaced fills, in placedRow's order.
var placedColumns = []string{"ref", "contract_id", "seq", "placed_at", "name", "service_code", "service_name", "kind", "price",
	"parameters", "placed_by", "placed_by_key", "status", "placed_json"}

// statusColumn is the index of "status" in placedColumns.
var statusColumn = slices.Index(placedColumns, "status")

// placedRow is the row of a placed order, as the live projector inserts
// it and a rebuild copies it.
func placedRow(e order.OrderPlaced) ([]any, error) {
	shown, err := Placed(e)
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(e.Parameters)
	if err != nil {
		return nil, err
	}
	return []any{e.Ref, e.ContractID, e.Seq, e.PlacedAt, e.Name(), e.ServiceCode, e.ServiceName, string(e.Kind), e.Price.String(),
		params, e.PlacedBy, identity.LoginKey(e.PlacedBy), string(order.StatusInProgress),
		string(shown.appendPlaced(make([]byte, 0, 768)))}, nil
}

func apply(ctx context.Context, tx pgx.Tx, _ eventstore.Record, e domain.Event) error {
	var err error
	switch e := e.(type) {
	case order.OrderPlaced:
		row, rerr := placedRow(e)
		if rerr != nil {
			return rerr
		}
		_, err = tx.Exec(ctx, `
INSERT INTO orders (ref, contract_id, seq, placed_at, name, service_code, service_name, kind, price,
                    parameters, placed_by, placed_by_key, status, placed_json)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10, $11, $12, $13, $14)
ON CONFLICT (ref) DO NOTHING`, row...)
	case order.OrderCompleted:
		_, err = tx.Exec(ctx, `UPDATE orders SET status = $2, completed_at = $3 WHERE ref = $1`,
			e.Ref, string(order.StatusCompleted), e.CompletedAt)
	case order.OrderRejected:
		_, err = tx.Exec(ctx, `UPDATE orders SET status = $2, rejected_at = $3, reject_reason = $4 WHERE ref = $1`,
			e.Ref, string(order.StatusRejected), e.RejectedAt, e.Reason)
	default:
		return fmt.Errorf("orders: unexpected event %T", e)
	}
	return err
}

// builder builds the orders table in memory for a rebuild: an order is
// handed over once completed or rejected (no later event changes it),
// the orders still in progress at the end.
type builder struct {
	open   map[string]*openOrder // in progress
	closed map[string]bool       // completed or rejected: a second placing is ignored, as live
	done   [][]any               // completed or rejected, not handed over yet
}

type openOrder struct {
	row       []any // placedColumns
	completed *time.Time
	rejected  *time.Time
	reason    string
}

var builtColumns = append(slices.Clone(placedColumns), "completed_at", "rejected_at", "reject_reason")

func (o *openOrder) values() []any {
	return append(o.row, o.completed, o.rejected, o.reason)
}

func (b *builder) apply(_ *projections.Stored, e domain.Event) error {
	switch e := e.(type) {
	case order.OrderPlaced:
		if _, dup := b.open[e.Ref]; dup || b.closed[e.Ref] {
			return nil // ON CONFLICT DO NOTHING
		}
		row, err := placedRow(e)
		if err != nil {
			return err
		}
		b.open[e.Ref] = &openOrder{row: row}
	case order.OrderCompleted:
		if o := b.open[e.Ref]; o != nil {
			at := e.CompletedAt
			o.row[statusColumn], o.completed = string(order.StatusCompleted), &at
			b.close(e.Ref, o)
		}
	case order.OrderRejected:
		if o := b.open[e.Ref]; o != nil {
			at := e.RejectedAt
			o.row[statusColumn], o.rejected, o.reason = string(order.StatusRejected), &at, e.Reason
			b.close(e.Ref, o)
		}
	default:
		return fmt.Errorf("orders: unexpected event %T", e)
	}
	return nil
}

// close hands o over: an order has one completion or rejection, and the
// live projector's updates after it would not find it changed.
func (b *builder) close(ref string, o *openOrder) {
	b.done = append(b.done, o.values())
	delete(b.open, ref)
	b.closed[ref] = true
}

func (b *builder) rows(final bool) []projections.Rows {
	rows := b.done
	b.done = nil
	if final {
		for _, o := range b.open {
			rows = append(rows, o.values())
		}
		b.open = map[string]*openOrder{}
	}
	return []projections.Rows{{Table: "orders", Columns: builtColumns, Values: rows}}
}
