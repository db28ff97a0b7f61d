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
	"slices"
	"time"

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
-- A contract's page in the default order (newest first) without sorting
-- all its subscriptions: thousands on a long-lived contract.
CREATE INDEX subscriptions_contract ON subscriptions (contract_id, subscribed_at, ref);
CREATE INDEX subscriptions_placer ON subscriptions (placed_by_key);
-- What the lifecycle scheduler looks for: starts and ends not recorded yet.
CREATE INDEX subscriptions_start_due ON subscriptions (start_date) WHERE started_at IS NULL;
CREATE INDEX subscriptions_end_due ON subscriptions (end_date) WHERE ended_at IS NULL;
`

// Projector returns the subscriptions projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 2, // 2: subscriptions_contract covers the default order
		Schema:  schema,
		Types:   []string{"OrderPlaced", "SubscriptionCreated", "SubscriptionStarted", "SubscriptionEnded"},
		Handle:  projections.Decoded(reg, apply),
		Bulk: func() projections.Builder {
			b := &builder{placers: map[string][2]string{}, open: map[string]*subscriptionRow{}, closed: map[string]bool{}}
			return projections.DecodedBuilder(reg, b.apply, b.rows)
		},
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

// builder is the rebuild's fold. A placer is final once placed; a
// subscription once both started and ended (each is set once), the
// others at the end.
type builder struct {
	placers    map[string][2]string // ref → placed_by, placed_by_key
	newPlacers [][]any
	open       map[string]*subscriptionRow
	closed     map[string]bool // handed over: a second creation is ignored, as live
	done       [][]any
}

type subscriptionRow struct {
	values         []any // createdColumns
	started, ended *time.Time
}

var createdColumns = []string{"ref", "contract_id", "order_ref", "name", "type", "service_code", "subscribed_at", "start_date", "end_date",
	"duration_months", "monthly_price", "initial_payment", "region", "placed_by", "placed_by_key", "created_at", "started_at", "ended_at"}

func (s *subscriptionRow) row() []any { return append(slices.Clip(s.values), s.started, s.ended) }

func (b *builder) apply(ev *projections.Stored, e domain.Event) error {
	switch e := e.(type) {
	case order.OrderPlaced:
		if _, dup := b.placers[e.Ref]; e.Kind != catalog.KindReservation || dup {
			return nil
		}
		p := [2]string{e.PlacedBy, identity.LoginKey(e.PlacedBy)}
		b.placers[e.Ref] = p
		b.newPlacers = append(b.newPlacers, []any{e.Ref, p[0], p[1]})
	case subscription.SubscriptionCreated:
		if _, dup := b.open[e.Ref]; dup || b.closed[e.Ref] {
			return nil
		}
		p := b.placers[e.OrderRef]
		b.open[e.Ref] = &subscriptionRow{values: []any{e.Ref, e.ContractID, e.OrderRef, e.Name, e.Type, e.ServiceCode, e.SubscribedAt,
			e.StartDate.String(), e.EndDate.String(), e.DurationMonths, e.MonthlyPrice.String(), e.InitialPayment.String(), e.Region,
			p[0], p[1], ev.RecordedAt}}
	case subscription.SubscriptionStarted:
		if s := b.open[e.Ref]; s != nil && s.started == nil {
			at := ev.RecordedAt
			s.started = &at
			b.closeIfDone(e.Ref, s)
		}
	case subscription.SubscriptionEnded:
		if s := b.open[e.Ref]; s != nil && s.ended == nil {
			at := ev.RecordedAt
			s.ended = &at
			b.closeIfDone(e.Ref, s)
		}
	default:
		return fmt.Errorf("subscriptions: unexpected event %T", e)
	}
	return nil
}

func (b *builder) closeIfDone(ref string, s *subscriptionRow) {
	if s.started != nil && s.ended != nil {
		b.done = append(b.done, s.row())
		delete(b.open, ref)
		b.closed[ref] = true
	}
}

func (b *builder) rows(final bool) []projections.Rows {
	subs := b.done
	if final {
		for _, s := range b.open {
			subs = append(subs, s.row())
		}
		b.open = map[string]*subscriptionRow{}
	}
	out := []projections.Rows{
		{Table: "placers", Columns: []string{"ref", "placed_by", "placed_by_key"}, Values: b.newPlacers},
		{Table: "subscriptions", Columns: createdColumns, Values: subs},
	}
	b.newPlacers, b.done = nil, nil
	return out
}
