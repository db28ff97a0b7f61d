package billing

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
	"selfcare/domain/billing"
	"selfcare/domain/money"
	"selfcare/domain/subscription"
	"selfcare/projections"
)

// Queries reads the billing read model.
type Queries struct {
	Pool *pgxpool.Pool
}

// Invoice is an issued invoice as the API shows it. Lines are left out of
// lists unless asked for.
type Invoice struct {
	ID            string            `json:"id"`
	ContractID    string            `json:"contract_id"`
	Period        string            `json:"period"`
	IssuedOn      subscription.Date `json:"issued_on"`
	AmountExclVAT money.Amount      `json:"amount_excl_vat"`
	Lines         []billing.Line    `json:"lines,omitempty"`

	sortValue, sortKey string
}

// ErrNoInvoice: no such invoice (for this contract).
var ErrNoInvoice = fmt.Errorf("%w: no such invoice", domain.ErrNotFound)

// InvoiceList is the list spec of a contract's invoices.
var InvoiceList = projections.ListSpec{
	Sortable: map[string]projections.Column{
		"id":              {Expr: "i.id", Type: "text"},
		"period":          {Expr: "i.period", Type: "text"},
		"issued_on":       {Expr: "i.issued_on", Type: "date"},
		"amount_excl_vat": {Expr: "i.amount_excl_vat", Type: "numeric"},
	},
	DefaultSort: "-period",
	Search:      []string{"i.id", "i.period", "to_char(i.issued_on, 'YYYY-MM-DD DD/MM/YYYY')", "i.amount_excl_vat::text"},
	Key:         projections.Column{Expr: "i.id", Type: "text"},
}

const invoiceColumns = `i.id, i.contract_id, i.period, i.issued_on::text, i.amount_excl_vat::text, i.lines`

// invoiceColumnsNoLines are invoiceColumns with the lines left in the
// table (NULL): a long-lived contract's invoice bills thousands of
// subscriptions, and a page of twenty would read megabytes for nothing.
const invoiceColumnsNoLines = `i.id, i.contract_id, i.period, i.issued_on::text, i.amount_excl_vat::text, NULL::jsonb`

func scanInvoice(row pgx.Row, withLines bool, extra ...any) (Invoice, error) {
	var inv Invoice
	var issued, amount string
	var lines []byte
	if err := row.Scan(append([]any{&inv.ID, &inv.ContractID, &inv.Period, &issued, &amount, &lines}, extra...)...); err != nil {
		return Invoice{}, err
	}
	var err1, err2, err3 error
	inv.IssuedOn, err1 = subscription.ParseDate(issued)
	inv.AmountExclVAT, err2 = money.Parse(amount)
	if withLines {
		err3 = json.Unmarshal(lines, &inv.Lines)
	}
	return inv, errors.Join(err1, err2, err3)
}

// Invoices returns a page of contract cid's invoices; with ?lines=true
// each carries its lines.
func (q Queries) Invoices(ctx context.Context, cid string, params url.Values) ([]Invoice, *string, error) {
	p, err := InvoiceList.ParseList(params)
	if err != nil {
		return nil, nil, err
	}
	withLines := params.Get("lines") == "true"
	columns := invoiceColumnsNoLines
	if withLines {
		columns = invoiceColumns
	}
	b := InvoiceList.Build(p, 1)
	rows, err := q.Pool.Query(ctx, `SELECT `+columns+`, `+InvoiceList.SortColumns(p)+`
FROM rm_billing.invoices i WHERE i.contract_id = $1`+b.Where+b.OrderLimit, append([]any{cid}, b.Args...)...)
	if err != nil {
		return nil, nil, fmt.Errorf("billing: invoices of %s: %w", cid, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Invoice, error) {
		var v, k string
		inv, err := scanInvoice(r, withLines, &v, &k)
		inv.sortValue, inv.sortKey = v, k
		return inv, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("billing: invoices of %s: %w", cid, err)
	}
	items, next := projections.Page(p, list, func(i Invoice) (string, string) { return i.sortValue, i.sortKey })
	return items, next, nil
}

// Last returns contract cid's latest invoice (the latest period), without
// its lines; false if it has none.
func (q Queries) Last(ctx context.Context, cid string) (Invoice, bool, error) {
	inv, err := scanInvoice(q.Pool.QueryRow(ctx, `SELECT `+invoiceColumnsNoLines+`
FROM rm_billing.invoices i WHERE i.contract_id = $1 ORDER BY i.period DESC LIMIT 1`, cid), false)
	if errors.Is(err, pgx.ErrNoRows) {
		return Invoice{}, false, nil
	}
	if err != nil {
		return Invoice{}, false, fmt.Errorf("billing: last invoice of %s: %w", cid, err)
	}
	return inv, true, nil
}

// Invoice returns invoice id of contract cid with its lines;
// ErrNoInvoice if the contract has none such.
func (q Queries) Invoice(ctx context.Context, cid, id string) (Invoice, error) {
	inv, err := scanInvoice(q.Pool.QueryRow(ctx, `SELECT `+invoiceColumns+`
FROM rm_billing.invoices i WHERE i.contract_id = $1 AND i.id = $2`, cid, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return Invoice{}, ErrNoInvoice
	}
	if err != nil {
		return Invoice{}, fmt.Errorf("billing: invoice %s: %w", id, err)
	}
	if inv.Lines == nil {
		inv.Lines = []billing.Line{}
	}
	return inv, nil
}

// UsageReport is one usage report received for a period.
type UsageReport struct {
	ReportedAt time.Time           `json:"reported_at"`
	Lines      []billing.UsageLine `json:"lines"`
}

// PricedUsageLine is a usage line with its amount (quantity × unit
// price, rounded half-up to the cent).
type PricedUsageLine struct {
	billing.UsageLine
	AmountExclVAT money.Amount `json:"amount_excl_vat"`
}

// PreInvoice is what the invoice of a period not invoiced yet would hold
// if it were issued now.
type PreInvoice struct {
	Lines         []billing.Line `json:"lines"`
	AmountExclVAT money.Amount   `json:"amount_excl_vat"`
}

// PeriodStatement is a period's usage reports and either its invoice or,
// until it is issued, its pre-invoice.
type PeriodStatement struct {
	Period billing.Period `json:"period"`
	// Lines are every usage line of the period, priced, in order of
	// receipt; Reports group them by usage report.
	Lines   []PricedUsageLine `json:"lines"`
	Reports []UsageReport     `json:"usage_reports"`
	// UsageExclVAT is the priced usage of the period: the sum of its
	// usage lines.
	UsageExclVAT money.Amount `json:"usage_excl_vat"`
	// InvoiceID is the period's invoice, once issued.
	InvoiceID string `json:"invoice_id,omitempty"`
	// PreInvoice is set while the period is not invoiced.
	PreInvoice *PreInvoice `json:"pre_invoice,omitempty"`
}

// Previewer computes the invoice a contract would get for a period if it
// were issued now (the command side's billing.Compute over the contract's
// subscriptions, one-off orders and usage).
type Previewer func(ctx context.Context, contractID string, p billing.Period) (billing.Invoice, error)

// Statements serves "usage reports and pre-invoices per period".
type Statements struct {
	Queries Queries
	Preview Previewer
}

// StatementList pages statements (in memory: a contract has one per month).
var StatementList = projections.MemorySpec[PeriodStatement]{
	Sortable: map[string]func(a, b PeriodStatement) int{
		"period": func(a, b PeriodStatement) int { return cmp.Compare(a.Period.String(), b.Period.String()) },
	},
	DefaultSort: "-period",
	Key:         func(s PeriodStatement) string { return s.Period.String() },
}

// List returns a page of contract cid's statements: one per month from
// the contract's creation to the current one (today's), and any other
// with usage or an invoice, latest first. Periods not invoiced carry their
// pre-invoice.
func (s Statements) List(ctx context.Context, cid string, today subscription.Date, params url.Values) ([]PeriodStatement, *string, error) {
	byPeriod := map[string]*PeriodStatement{}
	get := func(period string) (*PeriodStatement, error) {
		if st, ok := byPeriod[period]; ok {
			return st, nil
		}
		p, err := billing.ParsePeriod(period)
		if err != nil {
			return nil, err
		}
		st := &PeriodStatement{Period: p, Lines: []PricedUsageLine{}, Reports: []UsageReport{}}
		byPeriod[period] = st
		return st, nil
	}
	// Every month from the contract's creation to the current one.
	var created time.Time
	err := s.Queries.Pool.QueryRow(ctx, `SELECT created_on FROM rm_members.contracts WHERE id = $1`, cid).Scan(&created)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, nil, fmt.Errorf("billing: contract %s: %w", cid, err)
	}
	current := billing.PeriodOf(today)
	first := current
	if !created.IsZero() {
		first = billing.PeriodOf(subscription.DateOf(created))
	}
	for p := first; !current.First().Before(p.First()); p = p.Next() {
		if _, err := get(p.String()); err != nil {
			return nil, nil, err
		}
	}
	rows, err := s.Queries.Pool.Query(ctx, `
SELECT period, reported_at, lines FROM rm_billing.usage_reports WHERE contract_id = $1 ORDER BY period, version`, cid)
	if err != nil {
		return nil, nil, fmt.Errorf("billing: usage of %s: %w", cid, err)
	}
	type reportRow struct {
		period string
		report UsageReport
	}
	reports, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (reportRow, error) {
		var rr reportRow
		var lines []byte
		if err := r.Scan(&rr.period, &rr.report.ReportedAt, &lines); err != nil {
			return rr, err
		}
		rr.report.ReportedAt = rr.report.ReportedAt.UTC()
		return rr, json.Unmarshal(lines, &rr.report.Lines)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("billing: usage of %s: %w", cid, err)
	}
	for _, rr := range reports {
		st, err := get(rr.period)
		if err != nil {
			return nil, nil, err
		}
		st.Reports = append(st.Reports, rr.report)
		for _, l := range rr.report.Lines {
			amount := l.UnitPrice.Times(l.Quantity.Decimal())
			st.Lines = append(st.Lines, PricedUsageLine{UsageLine: l, AmountExclVAT: amount})
			st.UsageExclVAT = st.UsageExclVAT.Add(amount)
		}
	}
	rows, err = s.Queries.Pool.Query(ctx, `SELECT period, id FROM rm_billing.invoices WHERE contract_id = $1`, cid)
	if err != nil {
		return nil, nil, fmt.Errorf("billing: invoices of %s: %w", cid, err)
	}
	type invoiceRow struct{ period, id string }
	invoices, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (invoiceRow, error) {
		var ir invoiceRow
		return ir, r.Scan(&ir.period, &ir.id)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("billing: invoices of %s: %w", cid, err)
	}
	for _, ir := range invoices {
		st, err := get(ir.period)
		if err != nil {
			return nil, nil, err
		}
		st.InvoiceID = ir.id
	}

	all := make([]PeriodStatement, 0, len(byPeriod))
	for _, st := range byPeriod {
		all = append(all, *st)
	}
	page, next, err := StatementList.Page(all, params)
	if err != nil {
		return nil, nil, err
	}
	for i := range page {
		if page[i].InvoiceID != "" || s.Preview == nil {
			continue
		}
		inv, err := s.Preview(ctx, cid, page[i].Period)
		if err != nil {
			return nil, nil, err
		}
		lines := inv.Lines
		if lines == nil {
			lines = []billing.Line{}
		}
		page[i].PreInvoice = &PreInvoice{Lines: lines, AmountExclVAT: inv.TotalExclVAT}
	}
	return page, next, nil
}
