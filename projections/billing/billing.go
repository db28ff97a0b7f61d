// Package billing is the read model of invoices and usage reports: the
// invoices issued to each contract, with their lines, and every usage
// report received, by period.
package billing

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/billing"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/projections"
)

// Name of the projector; its tables are in schema rm_billing.
const Name = "billing"

const schema = `
CREATE TABLE invoices (
    id             text PRIMARY KEY,
    contract_id    text NOT NULL,
    period         text NOT NULL,
    issued_on      date NOT NULL,
    issued_at      timestamptz NOT NULL,
    amount_excl_vat numeric(14,2) NOT NULL,
    currency       text NOT NULL,
    lines          jsonb NOT NULL
);
CREATE INDEX invoices_contract ON invoices (contract_id, period);

CREATE TABLE usage_reports (
    contract_id text NOT NULL,
    period      text NOT NULL,
    version     bigint NOT NULL,
    reported_at timestamptz NOT NULL,
    lines       jsonb NOT NULL,
    PRIMARY KEY (contract_id, period, version)
);
`

// Projector returns the billing projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 1,
		Schema:  schema,
		Types:   []string{"UsageReported", "InvoiceIssued"},
		Handle:  projections.Decoded(reg, apply),
		Bulk: func() projections.Builder {
			b := &builder{seen: map[string]bool{}}
			return projections.DecodedBuilder(reg, b.apply, b.rows)
		},
	}
}

var (
	usageRowColumns   = []string{"contract_id", "period", "version", "reported_at", "lines"}
	invoiceRowColumns = []string{"id", "contract_id", "period", "issued_on", "issued_at", "amount_excl_vat", "currency", "lines"}
)

// row is the table and row an event adds, and its key: the live projector
// inserts it, a rebuild copies it.
func row(rec *eventstore.Record, e domain.Event) (table, key string, values []any, err error) {
	switch e := e.(type) {
	case billing.UsageReported:
		lines, err := json.Marshal(e.Lines)
		return "usage_reports", fmt.Sprint(e.ContractID, "\x00", e.Period, "\x00", rec.Version),
			[]any{e.ContractID, e.Period.String(), rec.Version, e.ReportedAt, lines}, err
	case billing.InvoiceIssued:
		lines, err := json.Marshal(e.Lines)
		return "invoices", e.InvoiceID,
			[]any{e.InvoiceID, e.ContractID, e.Period.String(), e.IssuedOn.String(), rec.RecordedAt, e.TotalExclVAT.String(), e.Currency, lines}, err
	default:
		return "", "", nil, fmt.Errorf("billing: unexpected event %T", e)
	}
}

func apply(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
	table, _, values, err := row(&rec, e)
	if err != nil {
		return err
	}
	if table == "usage_reports" {
		_, err = tx.Exec(ctx, `
INSERT INTO usage_reports (contract_id, period, version, reported_at, lines) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`, values...)
		return err
	}
	_, err = tx.Exec(ctx, `
INSERT INTO invoices (id, contract_id, period, issued_on, issued_at, amount_excl_vat, currency, lines)
VALUES ($1, $2, $3, $4::date, $5, $6::numeric, $7, $8)
ON CONFLICT (id) DO NOTHING`, values...)
	return err
}

// builder is the rebuild's fold: every row is final once added (the first
// of a key, as ON CONFLICT DO NOTHING keeps).
type builder struct {
	seen           map[string]bool // table + key
	usage, invoice [][]any
}

func (b *builder) apply(ev *projections.Stored, e domain.Event) error {
	table, key, values, err := row(&ev.Record, e)
	if err != nil || b.seen[table+"\x00"+key] {
		return err
	}
	b.seen[table+"\x00"+key] = true
	if table == "usage_reports" {
		b.usage = append(b.usage, values)
	} else {
		b.invoice = append(b.invoice, values)
	}
	return nil
}

func (b *builder) rows(bool) []projections.Rows {
	out := []projections.Rows{
		{Table: "usage_reports", Columns: usageRowColumns, Values: b.usage},
		{Table: "invoices", Columns: invoiceRowColumns, Values: b.invoice},
	}
	b.usage, b.invoice = nil, nil
	return out
}
