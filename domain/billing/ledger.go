package billing

import (
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"selfcare/domain"
	"selfcare/domain/money"
	"selfcare/domain/subscription"
)

// UsageReported: the platform reported usage of a contract for a period.
// Reports add up: every line of every report of the period is billed.
type UsageReported struct {
	ContractID string      `json:"contract_id"`
	Period     Period      `json:"period"`
	Lines      []UsageLine `json:"lines"`
	ReportedAt time.Time   `json:"reported_at"`
}

// InvoiceIssued: a contract's invoice for a period was issued. There is at
// most one per contract and period.
type InvoiceIssued struct {
	InvoiceID    string            `json:"invoice_id"`
	ContractID   string            `json:"contract_id"`
	Period       Period            `json:"period"`
	IssuedOn     subscription.Date `json:"issued_on"`
	Lines        []Line            `json:"lines"`
	TotalExclVAT money.Amount      `json:"total_excl_vat"`
	Currency     string            `json:"currency"`
}

// EventType implements domain.Event.
func (UsageReported) EventType() string { return "UsageReported" }

// EventType implements domain.Event.
func (InvoiceIssued) EventType() string { return "InvoiceIssued" }

// EventTypes are the stored event types of this package.
var EventTypes = []domain.EventType{
	{Name: "UsageReported", Version: 1, Decode: domain.DecodeJSON[UsageReported]},
	{Name: "InvoiceIssued", Version: 1, Decode: domain.DecodeJSON[InvoiceIssued]},
}

// InvoiceID is the identifier of a contract's invoice for a period:
// "INV-OCB0000124-2026-10". There is one invoice per contract and period,
// so the id is derived, never drawn.
func InvoiceID(contractID string, p Period) string {
	return "INV-" + contractID + "-" + p.String()
}

// Ledger is the billing of one contract for one period: the usage
// reported, then the invoice once issued. See the package comment for its
// stream.
type Ledger struct {
	contractID string
	period     Period
	usage      []UsageLine
	issued     *InvoiceIssued
}

// Apply folds an event into the ledger.
func (l *Ledger) Apply(e domain.Event) {
	switch e := e.(type) {
	case UsageReported:
		l.contractID, l.period = e.ContractID, e.Period
		l.usage = append(l.usage, e.Lines...)
	case InvoiceIssued:
		l.contractID, l.period = e.ContractID, e.Period
		l.issued = &e
	}
}

// Usage returns every usage line reported for the period, in order.
func (l Ledger) Usage() []UsageLine { return append([]UsageLine(nil), l.usage...) }

// Issued returns the invoice of the period, if issued.
func (l Ledger) Issued() (InvoiceIssued, bool) {
	if l.issued == nil {
		return InvoiceIssued{}, false
	}
	return *l.issued, true
}

// ReportUsage is a usage report for a contract and a period.
type ReportUsage struct {
	ContractID string
	Period     Period
	Lines      []UsageLine
}

const maxItemLen = 200

// ReportUsage decides to record a usage report. It returns a
// *domain.ValidationError for a missing period ("period"), no lines
// ("lines"), or a bad line ("lines[i].item" required/too_long,
// "lines[i].quantity" or "lines[i].unit_price" negative); an error wrapping
// domain.ErrConflict if the period is already invoiced; and a plain error
// if cmd is for another contract or period than the ledger's.
func (l Ledger) ReportUsage(cmd ReportUsage, now time.Time) ([]domain.Event, error) {
	if err := l.mustBeFor(cmd.ContractID, cmd.Period); err != nil {
		return nil, err
	}
	var v domain.ValidationError
	if cmd.ContractID == "" {
		v.Add("contract_id", "required", "a contract id is required")
	}
	if cmd.Period.IsZero() {
		v.Add("period", "required", "a period (YYYY-MM) is required")
	}
	if len(cmd.Lines) == 0 {
		v.Add("lines", "required", "a usage report has at least one line")
	}
	lines := make([]UsageLine, len(cmd.Lines))
	for i, u := range cmd.Lines {
		field := fmt.Sprintf("lines[%d].", i)
		u.Item = strings.TrimSpace(u.Item)
		switch {
		case u.Item == "":
			v.Add(field+"item", "required", "the item used is required")
		case utf8.RuneCountInString(u.Item) > maxItemLen:
			v.Add(field+"item", "too_long", "at most %d characters", maxItemLen)
		}
		if u.Quantity.IsNegative() {
			v.Add(field+"quantity", "negative", "a quantity is zero or more")
		}
		if u.UnitPrice.IsNegative() {
			v.Add(field+"unit_price", "negative", "a unit price is zero or more")
		}
		lines[i] = u
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	if l.issued != nil {
		return nil, domain.Conflictf("the invoice of %s for %s is already issued", cmd.ContractID, cmd.Period)
	}
	return []domain.Event{UsageReported{
		ContractID: cmd.ContractID, Period: cmd.Period, Lines: lines, ReportedAt: now.UTC(),
	}}, nil
}

// IssueInvoice asks for the invoice of a contract for a period, given the
// contract's subscriptions and one-off orders (Compute keeps those of the
// period). The usage billed is the ledger's.
type IssueInvoice struct {
	ContractID    string
	Period        Period
	Subscriptions []Subscription
	OneOffs       []OneOff
}

// Issue decides the invoice of the period, issued on the UTC day of now.
// It returns no events if the invoice is already issued (a billing run is
// idempotent) or if there is nothing to bill. It returns a plain error for
// a missing contract or period, or one that is not the ledger's.
func (l Ledger) Issue(cmd IssueInvoice, now time.Time) ([]domain.Event, error) {
	if cmd.ContractID == "" || cmd.Period.IsZero() {
		return nil, fmt.Errorf("billing: an invoice needs a contract and a period")
	}
	if err := l.mustBeFor(cmd.ContractID, cmd.Period); err != nil {
		return nil, err
	}
	if l.issued != nil {
		return nil, nil
	}
	inv, err := Compute(Input{Period: cmd.Period, Subscriptions: cmd.Subscriptions, OneOffs: cmd.OneOffs, Usage: l.usage})
	if err != nil {
		return nil, err
	}
	if len(inv.Lines) == 0 {
		return nil, nil
	}
	return []domain.Event{InvoiceIssued{
		InvoiceID:    InvoiceID(cmd.ContractID, cmd.Period),
		ContractID:   cmd.ContractID,
		Period:       cmd.Period,
		IssuedOn:     subscription.DateOf(now),
		Lines:        inv.Lines,
		TotalExclVAT: inv.TotalExclVAT,
		Currency:     money.Currency,
	}}, nil
}

// mustBeFor guards against deciding on a ledger loaded from another
// contract's or period's stream.
func (l Ledger) mustBeFor(contractID string, p Period) error {
	if l.contractID != "" && (l.contractID != contractID || l.period != p) {
		return fmt.Errorf("billing: ledger of %s %s asked about %s %s", l.contractID, l.period, contractID, p)
	}
	return nil
}
