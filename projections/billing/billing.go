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
	}
}

func apply(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
	switch e := e.(type) {
	case billing.UsageReported:
		lines, err := json.Marshal(e.Lines)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
INSERT INTO usage_reports (contract_id, period, version, reported_at, lines) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT DO NOTHING`, e.ContractID, e.Period.String(), rec.Version, e.ReportedAt, lines)
		return err
	case billing.InvoiceIssued:
		lines, err := json.Marshal(e.Lines)
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
INSERT INTO invoices (id, contract_id, period, issued_on, issued_at, amount_excl_vat, currency, lines)
VALUES ($1, $2, $3, $4::date, $5, $6::numeric, $7, $8)
ON CONFLICT (id) DO NOTHING`, e.InvoiceID, e.ContractID, e.Period.String(), e.IssuedOn.String(), rec.RecordedAt,
			e.TotalExclVAT.String(), e.Currency, lines)
		return err
	default:
		return fmt.Errorf("billing: unexpected event %T", e)
	}
}
