package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"sort"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"
)

// schema is the consumer's own tables, in its own database. Several
// consumers (by name) may share a database; each keeps its own rows.
const schema = `
CREATE TABLE IF NOT EXISTS billing_checkpoints (
    consumer       text        PRIMARY KEY,
    after_position bigint      NOT NULL DEFAULT 0,
    feed_url       text        NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS billing_contracts (
    consumer              text           NOT NULL,
    contract_id           text           NOT NULL,
    orders_placed         bigint         NOT NULL DEFAULT 0,
    orders_completed      bigint         NOT NULL DEFAULT 0,
    orders_rejected       bigint         NOT NULL DEFAULT 0,
    subscriptions_started bigint         NOT NULL DEFAULT 0,
    subscriptions_ended   bigint         NOT NULL DEFAULT 0,
    invoices              bigint         NOT NULL DEFAULT 0,
    revenue_excl_vat      numeric(20, 2) NOT NULL DEFAULT 0,
    last_position         bigint         NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, contract_id)
);
CREATE TABLE IF NOT EXISTS billing_revenue (
    consumer         text           NOT NULL,
    contract_id      text           NOT NULL,
    period           text           NOT NULL,
    invoices         bigint         NOT NULL DEFAULT 0,
    revenue_excl_vat numeric(20, 2) NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, contract_id, period)
);
`

// counted maps each event type the consumer follows to the column it
// increments (column names are constants, never input).
var counted = map[string]string{
	"OrderPlaced":         "orders_placed",
	"OrderCompleted":      "orders_completed",
	"OrderRejected":       "orders_rejected",
	"SubscriptionStarted": "subscriptions_started",
	"SubscriptionEnded":   "subscriptions_ended",
	"InvoiceIssued":       "invoices",
}

// followedTypes are the event types asked of the feed.
func followedTypes() []string {
	types := make([]string, 0, len(counted))
	for t := range counted {
		types = append(types, t)
	}
	sort.Strings(types)
	return types
}

// ledger is the consumer's state in its database.
type ledger struct {
	pool     *pgxpool.Pool
	consumer string
}

// errCheckpointMoved: another process with the same consumer name
// committed first; its batch counts, ours is dropped.
var errCheckpointMoved = errors.New("the checkpoint moved: another consumer of the same name is running")

// init creates the tables if missing and the consumer's checkpoint, and
// returns the checkpoint.
func (l *ledger) init(ctx context.Context, feedURL string) (int64, error) {
	var after int64
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		// Two consumers starting at once must not race on CREATE TABLE.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('billing-consumer schema', 0))`); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, schema); err != nil {
			return fmt.Errorf("create tables: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO billing_checkpoints (consumer, feed_url) VALUES ($1, $2) ON CONFLICT DO NOTHING`, l.consumer, feedURL); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT after_position FROM billing_checkpoints WHERE consumer = $1`, l.consumer).Scan(&after)
	})
	return after, err
}

// summary is a contract's running totals.
type summary struct {
	Contract             string
	Invoices             int64
	Revenue              decimal.Decimal
	OrdersPlaced         int64
	OrdersCompleted      int64
	SubscriptionsRunning int64
}

func (s summary) String() string {
	return fmt.Sprintf("%s  invoices: %d  revenue excl. VAT: %s  orders: %d placed / %d completed  subscriptions: %d in progress",
		s.Contract, s.Invoices, formatEUR(s.Revenue), s.OrdersPlaced, s.OrdersCompleted, s.SubscriptionsRunning)
}

// apply records a page of the feed read after position from: its effects
// and the new checkpoint in one transaction, so that a crash at any point
// leaves either all of them or none. It returns the new totals of the
// contracts the page touched, and errCheckpointMoved if the stored
// checkpoint is no longer from.
func (l *ledger) apply(ctx context.Context, from int64, p page) ([]summary, error) {
	var out []summary
	err := pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var current int64
		if err := tx.QueryRow(ctx, `SELECT after_position FROM billing_checkpoints WHERE consumer = $1 FOR UPDATE`, l.consumer).Scan(&current); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if current != from {
			return errCheckpointMoved
		}
		touched := map[string]bool{}
		for _, e := range p.Events {
			contract, err := l.record(ctx, tx, e)
			if err != nil {
				return fmt.Errorf("event %d (%s %s): %w", e.Position, e.Type, e.EventID, err)
			}
			if contract != "" {
				touched[contract] = true
			}
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_checkpoints SET after_position = $2, updated_at = now() WHERE consumer = $1`, l.consumer, *p.NextAfter); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		var err error
		out, err = l.summaries(ctx, tx, touched)
		return err
	})
	return out, err
}

// dataError is an event this program cannot read: retrying will not help.
type dataError struct{ err error }

func (e dataError) Error() string { return e.err.Error() }
func (e dataError) Unwrap() error { return e.err }

// eventData is the part of the events' data billing reads.
type eventData struct {
	ContractID   string          `json:"contract_id"`
	Period       string          `json:"period"`
	TotalExclVAT json.RawMessage `json:"total_excl_vat"`
}

var periodText = regexp.MustCompile(`^[0-9]{4}-(0[1-9]|1[0-2])$`)

// record applies one event and returns its contract ("" for an event
// this consumer does not count).
func (l *ledger) record(ctx context.Context, tx pgx.Tx, e event) (string, error) {
	column, ok := counted[e.Type]
	if !ok {
		return "", nil
	}
	var d eventData
	if err := json.Unmarshal(e.Data, &d); err != nil {
		return "", dataError{fmt.Errorf("data: %w", err)}
	}
	contract := d.ContractID
	if contract == "" {
		contract = e.Metadata.Contract
	}
	if contract == "" {
		return "", dataError{errors.New("no contract in the event")}
	}
	revenue := decimal.Zero
	if e.Type == "InvoiceIssued" {
		total, err := parseAmount(d.TotalExclVAT)
		if err != nil {
			return "", dataError{fmt.Errorf("total_excl_vat: %w", err)}
		}
		if !periodText.MatchString(d.Period) {
			return "", dataError{fmt.Errorf("period %q is not YYYY-MM", d.Period)}
		}
		revenue = total
		if _, err := tx.Exec(ctx, `
INSERT INTO billing_revenue (consumer, contract_id, period, invoices, revenue_excl_vat) VALUES ($1, $2, $3, 1, $4::numeric)
ON CONFLICT (consumer, contract_id, period) DO UPDATE SET
    invoices = billing_revenue.invoices + 1,
    revenue_excl_vat = billing_revenue.revenue_excl_vat + excluded.revenue_excl_vat`,
			l.consumer, contract, d.Period, total.String()); err != nil {
			return "", err
		}
	}
	_, err := tx.Exec(ctx, `
INSERT INTO billing_contracts (consumer, contract_id, `+column+`, revenue_excl_vat, last_position) VALUES ($1, $2, 1, $3::numeric, $4)
ON CONFLICT (consumer, contract_id) DO UPDATE SET
    `+column+` = billing_contracts.`+column+` + 1,
    revenue_excl_vat = billing_contracts.revenue_excl_vat + excluded.revenue_excl_vat,
    last_position = excluded.last_position`,
		l.consumer, contract, revenue.String(), e.Position)
	return contract, err
}

func (l *ledger) summaries(ctx context.Context, tx pgx.Tx, contracts map[string]bool) ([]summary, error) {
	if len(contracts) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(contracts))
	for c := range contracts {
		ids = append(ids, c)
	}
	rows, err := tx.Query(ctx, `
SELECT contract_id, invoices, revenue_excl_vat::text, orders_placed, orders_completed, subscriptions_started - subscriptions_ended
FROM billing_contracts WHERE consumer = $1 AND contract_id = ANY($2) ORDER BY contract_id`, l.consumer, ids)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (summary, error) {
		var s summary
		var revenue string
		if err := r.Scan(&s.Contract, &s.Invoices, &revenue, &s.OrdersPlaced, &s.OrdersCompleted, &s.SubscriptionsRunning); err != nil {
			return s, err
		}
		var err error
		s.Revenue, err = parseStoredAmount(revenue)
		return s, err
	})
}

// applyEvent records one event of the NATS stream, with the checkpoint
// moved to its position, in one transaction. An event at or below the
// checkpoint was recorded already (a redelivery after a lost ack, a
// republish): it is skipped, so each event counts once. Events come in
// position order (one unacknowledged at a time), so the checkpoint never
// passes an event not yet recorded. ok is false for a skipped event.
func (l *ledger) applyEvent(ctx context.Context, e event) (s summary, ok bool, err error) {
	err = pgx.BeginFunc(ctx, l.pool, func(tx pgx.Tx) error {
		var current int64
		if err := tx.QueryRow(ctx, `SELECT after_position FROM billing_checkpoints WHERE consumer = $1 FOR UPDATE`, l.consumer).Scan(&current); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if e.Position <= current {
			return nil
		}
		contract, err := l.record(ctx, tx, e)
		if err != nil {
			return fmt.Errorf("event %d (%s %s): %w", e.Position, e.Type, e.EventID, err)
		}
		if _, err := tx.Exec(ctx, `UPDATE billing_checkpoints SET after_position = $2, updated_at = now() WHERE consumer = $1`, l.consumer, e.Position); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		summaries, err := l.summaries(ctx, tx, map[string]bool{contract: true})
		if err != nil || len(summaries) != 1 {
			return fmt.Errorf("summary of %s: %v", contract, err)
		}
		s, ok = summaries[0], true
		return nil
	})
	return s, ok, err
}
