// Package orders is the read model of orders: every order of every
// contract, its parameters, price, placer and status, for the contract's
// orders section and "my orders".
package orders

import (
	"context"
	"encoding/json"
	"fmt"

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
    monthly_price   numeric(14,2),
    initial_payment numeric(14,2),
    duration_months integer NOT NULL,
    parameters      jsonb NOT NULL,
    contact         jsonb,
    placed_by       text NOT NULL,
    placed_by_key   text NOT NULL,
    status          text NOT NULL,
    completed_at    timestamptz,
    rejected_at     timestamptz,
    reject_reason   text NOT NULL DEFAULT ''
);
CREATE INDEX orders_contract ON orders (contract_id, placed_at);
CREATE INDEX orders_placer ON orders (placed_by_key);
`

// Projector returns the orders projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 1,
		Schema:  schema,
		Types:   []string{"OrderPlaced", "OrderCompleted", "OrderRejected"},
		Handle:  projections.Decoded(reg, apply),
	}
}

func apply(ctx context.Context, tx pgx.Tx, _ eventstore.Record, e domain.Event) error {
	var err error
	switch e := e.(type) {
	case order.OrderPlaced:
		params, perr := json.Marshal(e.Parameters)
		if perr != nil {
			return perr
		}
		var contact []byte
		if e.Contact != nil {
			if contact, err = json.Marshal(e.Contact); err != nil {
				return err
			}
		}
		var monthly, initial *string
		if e.MonthlyPrice != nil {
			s := e.MonthlyPrice.String()
			monthly = &s
		}
		if e.InitialPayment != nil {
			s := e.InitialPayment.String()
			initial = &s
		}
		_, err = tx.Exec(ctx, `
INSERT INTO orders (ref, contract_id, seq, placed_at, name, service_code, service_name, kind, price, monthly_price,
                    initial_payment, duration_months, parameters, contact, placed_by, placed_by_key, status)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::numeric, $10::numeric, $11::numeric, $12, $13, $14, $15, $16, $17)
ON CONFLICT (ref) DO NOTHING`,
			e.Ref, e.ContractID, e.Seq, e.PlacedAt, e.Name(), e.ServiceCode, e.ServiceName, string(e.Kind), e.Price.String(),
			monthly, initial, e.DurationMonths, params, contact, e.PlacedBy, identity.LoginKey(e.PlacedBy), string(order.StatusInProgress))
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
