// Package billing is the read model of invoices and usage reports: the
// invoices issued to each contract, with their lines, and every usage
// report received, by period.
package billing

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain/billing"
	"selfcare/domain/money"
	"selfcare/domain/registry"
	"selfcare/domain/subscription"
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
//
// Invoices are the bulk of a long history (an invoice's lines name every
// order and subscription billed: 3.5 kB an event, half the bytes of the
// log), so this read model reads the few fields it keeps from the stored
// event and keeps the lines as stored, rather than decoding every line
// into the domain's types and encoding it again: the domain wrote those
// bytes from the same types.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 1,
		Schema:  schema,
		Types:   []string{"UsageReported", "InvoiceIssued"},
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			return apply(ctx, tx, rec, reg)
		},
		Bulk: func() projections.Builder { return &builder{reg: reg, seen: map[string]bool{}} },
	}
}

var (
	usageRowColumns   = []string{"contract_id", "period", "version", "reported_at", "lines"}
	invoiceRowColumns = []string{"id", "contract_id", "period", "issued_on", "issued_at", "amount_excl_vat", "currency", "lines"}
)

// usageReported and invoiceIssued are billing.UsageReported and
// billing.InvoiceIssued with their lines left as stored.
type usageReported struct {
	ContractID string          `json:"contract_id"`
	Period     billing.Period  `json:"period"`
	Lines      json.RawMessage `json:"lines"`
	ReportedAt time.Time       `json:"reported_at"`
}

type invoiceIssued struct {
	InvoiceID    string            `json:"invoice_id"`
	ContractID   string            `json:"contract_id"`
	Period       billing.Period    `json:"period"`
	IssuedOn     subscription.Date `json:"issued_on"`
	Lines        json.RawMessage   `json:"lines"`
	TotalExclVAT money.Amount      `json:"total_excl_vat"`
	Currency     string            `json:"currency"`
}

// row is the table and row an event adds, and its key: the live projector
// inserts it, a rebuild copies it.
func row(rec *eventstore.Record, reg *registry.Registry) (table, key string, values []any, err error) {
	data := rec.Data
	if rec.SchemaVersion != reg.Version(rec.Type) {
		// Stored by an older version: upcast by the registry, in the
		// current version's encoding, which the mirror types follow
		// (TestMirrorTypesFollowTheDomain).
		e, err := reg.Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return "", "", nil, err
		}
		if data, err = json.Marshal(e); err != nil {
			return "", "", nil, err
		}
	}
	lines := func(raw json.RawMessage) []byte {
		if len(raw) == 0 || string(raw) == "null" {
			return []byte("null")
		}
		return raw
	}
	switch rec.Type {
	case "UsageReported":
		var e usageReported
		if err := json.Unmarshal(data, &e); err != nil {
			return "", "", nil, fmt.Errorf("billing: decode %s: %w", rec.Type, err)
		}
		return "usage_reports", fmt.Sprint(e.ContractID, "\x00", e.Period, "\x00", rec.Version),
			[]any{e.ContractID, e.Period.String(), rec.Version, e.ReportedAt, lines(e.Lines)}, nil
	case "InvoiceIssued":
		var e invoiceIssued
		if err := json.Unmarshal(data, &e); err != nil {
			return "", "", nil, fmt.Errorf("billing: decode %s: %w", rec.Type, err)
		}
		return "invoices", e.InvoiceID,
			[]any{e.InvoiceID, e.ContractID, e.Period.String(), e.IssuedOn.String(), rec.RecordedAt, e.TotalExclVAT.String(), e.Currency, lines(e.Lines)}, nil
	default:
		return "", "", nil, fmt.Errorf("billing: unexpected event %s", rec.Type)
	}
}

func apply(ctx context.Context, tx pgx.Tx, rec eventstore.Record, reg *registry.Registry) error {
	table, _, values, err := row(&rec, reg)
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
	reg            *registry.Registry
	seen           map[string]bool // table + key
	usage, invoice [][]any
}

func (b *builder) Apply(ev *projections.Stored) error {
	table, key, values, err := row(&ev.Record, b.reg)
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

func (b *builder) Rows(bool) []projections.Rows {
	out := []projections.Rows{
		{Table: "usage_reports", Columns: usageRowColumns, Values: b.usage},
		{Table: "invoices", Columns: invoiceRowColumns, Values: b.invoice},
	}
	b.usage, b.invoice = nil, nil
	return out
}
