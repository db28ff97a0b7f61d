// Package billing computes a contract's invoice for a month and records the
// usage reported for it and the invoice issued, at most one per period.
//
// # What an invoice holds
//
// Compute is the whole rule, for one contract and one period:
//
//   - the monthly price of every subscription in progress during the period.
//     Subscriptions start on a 1st and end on a month's last day, so they
//     cover whole months and are billed their monthly price exactly. Should
//     one cover only part of the period (dates set otherwise), it is billed
//     pro rata temporis: monthly price × days covered ÷ days in the month,
//     rounded half-up to the cent once (10 days of €240.60 in October:
//     240.60 × 10 / 31 = 77.6129… → €77.61);
//   - the initial payment of every subscription whose start date falls in
//     the period (none when it is €0.00);
//   - every one-off order completed in the period (UTC day of completion), at
//     its price; free orders (€0.00) make no line;
//   - every usage line reported for the period: quantity × unit price,
//     rounded half-up to the cent per line.
//
// The total excluding VAT is the sum of the lines.
//
// # Streams and idempotency
//
// A Ledger is the billing of one contract for one period, in one stream per
// contract and period (for instance "billing-OCB0000124-2026-10"): the
// UsageReported events, then at most one InvoiceIssued. The caller loads
// the stream, decides, and appends expecting the loaded version — for a
// period without usage that is "no stream". So a billing run is idempotent
// (SPEC §7): a second run finds the invoice and decides nothing, and two
// runs racing conflict on the append, the loser then finding the invoice on
// reload. For the same reason, usage reported after the invoice is refused
// rather than silently left unbilled.
package billing

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"selfcare/domain/catalog"
	"selfcare/domain/money"
	"selfcare/domain/order"
	"selfcare/domain/subscription"
)

// Subscription is what billing needs of a subscription.
type Subscription struct {
	Ref            string
	Name           string
	StartDate      subscription.Date
	EndDate        subscription.Date
	MonthlyPrice   money.Amount
	InitialPayment money.Amount
}

// SubscriptionFrom returns the billing terms of a created subscription.
func SubscriptionFrom(e subscription.SubscriptionCreated) Subscription {
	return Subscription{
		Ref: e.Ref, Name: e.Name, StartDate: e.StartDate, EndDate: e.EndDate,
		MonthlyPrice: e.MonthlyPrice, InitialPayment: e.InitialPayment,
	}
}

// OneOff is a completed one-off (or free) order.
type OneOff struct {
	OrderRef    string
	Name        string
	CompletedAt time.Time
	Price       money.Amount
}

// OneOffFrom returns the billing terms of o if it is a completed one-off or
// free order; false otherwise (reservations are billed through their
// subscription).
func OneOffFrom(o order.Order) (OneOff, bool) {
	p := o.Placed()
	if o.Status() != order.StatusCompleted || (p.Kind != catalog.KindOneOff && p.Kind != catalog.KindFree) {
		return OneOff{}, false
	}
	return OneOff{OrderRef: p.Ref, Name: p.Name(), CompletedAt: o.CompletedAt(), Price: p.Price}, true
}

// UsageLine is usage of something during a period, as reported by the
// platform.
type UsageLine struct {
	Item      string          `json:"item"`
	Quantity  Quantity        `json:"quantity"`
	UnitPrice money.UnitPrice `json:"unit_price"`
}

// LineKind says where an invoice line comes from.
type LineKind string

// The kinds of invoice lines.
const (
	LineMonthlyPrice   LineKind = "monthly_price"
	LineInitialPayment LineKind = "initial_payment"
	LineOneOff         LineKind = "one_off"
	LineUsage          LineKind = "usage"
)

// Line is one line of an invoice. Amount is always Quantity × UnitPrice
// rounded half-up to the cent; a pro-rata monthly price is quantity 1 at
// the pro-rata price, with the days covered in From, To and the label.
type Line struct {
	Kind LineKind `json:"kind"`
	// Ref is the subscription or order billed ("" for usage).
	Ref   string `json:"ref,omitempty"`
	Label string `json:"label"`
	// From and To are the days a monthly price covers.
	From      subscription.Date `json:"from,omitzero"`
	To        subscription.Date `json:"to,omitzero"`
	Quantity  Quantity          `json:"quantity"`
	UnitPrice money.UnitPrice   `json:"unit_price"`
	Amount    money.Amount      `json:"amount_excl_vat"`
}

// Input is everything billed for one contract and one period. Compute
// picks what concerns the period itself, so callers may pass all the
// contract's subscriptions and one-off orders.
type Input struct {
	Period        Period
	Subscriptions []Subscription
	OneOffs       []OneOff
	Usage         []UsageLine
}

// Invoice is the computed content of an invoice: its lines and total.
type Invoice struct {
	Period       Period
	Lines        []Line
	TotalExclVAT money.Amount
}

// Compute returns the invoice of in.Period (see the package comment for
// the rules). Lines come in a stable order: per subscription (by start date,
// then reference) its initial payment then its monthly price; then one-off
// orders by completion time; then usage as reported. It returns an error
// only for a zero period.
func Compute(in Input) (Invoice, error) {
	if in.Period.IsZero() {
		return Invoice{}, fmt.Errorf("billing: no period")
	}
	p := in.Period
	var lines []Line

	subs := slices.Clone(in.Subscriptions)
	slices.SortStableFunc(subs, func(a, b Subscription) int {
		return cmp.Or(a.StartDate.Compare(b.StartDate), cmp.Compare(a.Ref, b.Ref))
	})
	for _, s := range subs {
		if p.Contains(s.StartDate) && s.InitialPayment.IsPositive() {
			lines = append(lines, fixedLine(LineInitialPayment, s.Ref, s.Name+": initial payment", s.InitialPayment))
		}
		if line, ok := monthlyLine(p, s); ok {
			lines = append(lines, line)
		}
	}

	oneOffs := slices.Clone(in.OneOffs)
	slices.SortStableFunc(oneOffs, func(a, b OneOff) int {
		return cmp.Or(a.CompletedAt.Compare(b.CompletedAt), cmp.Compare(a.OrderRef, b.OrderRef))
	})
	for _, o := range oneOffs {
		if p.Contains(subscription.DateOf(o.CompletedAt)) && !o.Price.IsZero() {
			lines = append(lines, fixedLine(LineOneOff, o.OrderRef, o.Name, o.Price))
		}
	}

	for _, u := range in.Usage {
		lines = append(lines, Line{
			Kind: LineUsage, Label: u.Item, Quantity: u.Quantity, UnitPrice: u.UnitPrice,
			Amount: u.UnitPrice.Times(u.Quantity.Decimal()),
		})
	}

	total := money.Zero
	for _, l := range lines {
		total = total.Add(l.Amount)
	}
	return Invoice{Period: p, Lines: lines, TotalExclVAT: total}, nil
}

func fixedLine(kind LineKind, ref, label string, amount money.Amount) Line {
	return Line{
		Kind: kind, Ref: ref, Label: label,
		Quantity: QuantityOf(1), UnitPrice: money.UnitPriceOf(amount), Amount: amount,
	}
}

// monthlyLine bills the days of p that s is in progress: the monthly price
// for the whole month, pro rata for part of it, nothing for none.
func monthlyLine(p Period, s Subscription) (Line, bool) {
	from := latest(s.StartDate, p.First())
	to := earliest(s.EndDate, p.Last())
	if to.Before(from) {
		return Line{}, false
	}
	days := to.DaysSince(from) + 1
	amount, label := s.MonthlyPrice, s.Name+": monthly price"
	if days < p.Days() {
		amount = s.MonthlyPrice.Prorate(int64(days), int64(p.Days()))
		label += fmt.Sprintf(", %d of %d days", days, p.Days())
	}
	line := fixedLine(LineMonthlyPrice, s.Ref, label, amount)
	line.From, line.To = from, to
	return line, true
}

func latest(a, b subscription.Date) subscription.Date {
	if a.After(b) {
		return a
	}
	return b
}

func earliest(a, b subscription.Date) subscription.Date {
	if a.Before(b) {
		return a
	}
	return b
}
