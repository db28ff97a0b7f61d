// Package subscriptions is the read model of subscriptions: one row per
// subscription created by a completed reservation order, with its dates,
// prices and the lifecycle events recorded so far. The status shown is
// computed from the dates for the day asked (SPEC §6), so it is right for
// any day whether or not the lifecycle events were recorded yet; the
// scheduler finds the subscriptions whose events are due here.
package subscriptions

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/identity"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/domain/subscription"
	"selfcare/eventstore"
	"selfcare/projections"
)

// Name of the projector; its tables are in schema rm_subscriptions.
const Name = "subscriptions"

const schema = `
-- Who placed each reservation order, for "my subscriptions".
CREATE TABLE placers (
    ref           text PRIMARY KEY,
    placed_by     text NOT NULL,
    placed_by_key text NOT NULL
);

CREATE TABLE subscriptions (
    ref             text PRIMARY KEY,
    contract_id     text NOT NULL,
    order_ref       text NOT NULL,
    name            text NOT NULL,
    type            text NOT NULL,
    service_code    text NOT NULL,
    subscribed_at   timestamptz NOT NULL,
    start_date      date NOT NULL,
    end_date        date NOT NULL,
    duration_months integer NOT NULL,
    monthly_price   numeric(14,2) NOT NULL,
    initial_payment numeric(14,2) NOT NULL,
    region          text NOT NULL,
    placed_by       text NOT NULL,
    placed_by_key   text NOT NULL,
    created_at      timestamptz NOT NULL,
    started_at      timestamptz,
    ended_at        timestamptz
);
CREATE INDEX subscriptions_contract ON subscriptions (contract_id);
CREATE INDEX subscriptions_placer ON subscriptions (placed_by_key);
-- What the lifecycle scheduler looks for: starts and ends not recorded yet.
CREATE INDEX subscriptions_start_due ON subscriptions (start_date) WHERE started_at IS NULL;
CREATE INDEX subscriptions_end_due ON subscriptions (end_date) WHERE ended_at IS NULL;
`

// Projector returns the subscriptions projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 1,
		Schema:  schema,
		Types:   []string{"OrderPlaced", "SubscriptionCreated", "SubscriptionStarted", "SubscriptionEnded"},
		Handle:  projections.Decoded(reg, apply),
	}
}

func apply(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
	var err error
	switch e := e.(type) {
	case order.OrderPlaced:
		if e.Kind != catalog.KindReservation {
			return nil
		}
		_, err = tx.Exec(ctx, `INSERT INTO placers (ref, placed_by, placed_by_key) VALUES ($1, $2, $3) ON CONFLICT (ref) DO NOTHING`,
			e.Ref, e.PlacedBy, identity.LoginKey(e.PlacedBy))
	case subscription.SubscriptionCreated:
		_, err = tx.Exec(ctx, `
INSERT INTO subscriptions (ref, contract_id, order_ref, name, type, service_code, subscribed_at, start_date, end_date,
                           duration_months, monthly_price, initial_payment, region, placed_by, placed_by_key, created_at)
SELECT $1, $2, $3, $4, $5, $6, $7, $8::date, $9::date, $10, $11::numeric, $12::numeric, $13,
       coalesce(p.placed_by, ''), coalesce(p.placed_by_key, ''), $14
FROM (SELECT 1) one LEFT JOIN placers p ON p.ref = $3
ON CONFLICT (ref) DO NOTHING`,
			e.Ref, e.ContractID, e.OrderRef, e.Name, e.Type, e.ServiceCode, e.SubscribedAt, e.StartDate.String(), e.EndDate.String(),
			e.DurationMonths, e.MonthlyPrice.String(), e.InitialPayment.String(), e.Region, rec.RecordedAt)
	case subscription.SubscriptionStarted:
		_, err = tx.Exec(ctx, `UPDATE subscriptions SET started_at = $2 WHERE ref = $1 AND started_at IS NULL`, e.Ref, rec.RecordedAt)
	case subscription.SubscriptionEnded:
		_, err = tx.Exec(ctx, `UPDATE subscriptions SET ended_at = $2 WHERE ref = $1 AND ended_at IS NULL`, e.Ref, rec.RecordedAt)
	default:
		return fmt.Errorf("subscriptions: unexpected event %T", e)
	}
	return err
}
