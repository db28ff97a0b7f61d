package billing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/domaintest"
	"selfcare/domain/money"
	"selfcare/domain/order"
	"selfcare/domain/subscription"
)

func amount(s string) money.Amount { return money.MustParse(s) }

func usage(item, qty, unitPrice string) UsageLine {
	q, err := ParseQuantity(qty)
	if err != nil {
		panic(err)
	}
	return UsageLine{Item: item, Quantity: q, UnitPrice: money.MustParseUnitPrice(unitPrice)}
}

// Subscriptions of contract OCB0000124, as billed in October 2026.
var (
	// Started in August 2026: in progress all October.
	c22xlarge = Subscription{Ref: "SLPRO124-2607-001", Name: "Reservation c2.2xlarge 1 year without upfront",
		StartDate: day("2026-08-01"), EndDate: day("2027-07-31"), MonthlyPrice: amount("240.60"), InitialPayment: amount("0.00")}
	// Ordered in September 2026: starts on October 1st, with an initial payment.
	c2large = Subscription{Ref: "SLPRO124-2609-002", Name: "Reservation c2.large 2 years with upfront",
		StartDate: day("2026-10-01"), EndDate: day("2028-09-30"), MonthlyPrice: amount("24.39"), InitialPayment: amount("513.02")}
	// Ordered in October: starts in November.
	notYet = Subscription{Ref: "SLPRO124-2610-004", Name: "Reservation c2.xlarge 1 year with upfront",
		StartDate: day("2026-11-01"), EndDate: day("2027-10-31"), MonthlyPrice: amount("57.03"), InitialPayment: amount("658.19")}
	// Ended on September 30th.
	over = Subscription{Ref: "SLPRO124-2509-001", Name: "Reservation c2.large 1 year without upfront",
		StartDate: day("2025-10-01"), EndDate: day("2026-09-30"), MonthlyPrice: amount("60.15"), InitialPayment: amount("0.00")}
	// Ends on October 31st: its last whole month.
	lastMonth = Subscription{Ref: "SLPRO124-2510-002", Name: "Reservation e2.4xlarge 1 year without upfront",
		StartDate: day("2025-11-01"), EndDate: day("2026-10-31"), MonthlyPrice: amount("3596.45"), InitialPayment: amount("0.00")}

	expertPack = OneOff{OrderRef: "SLPRO124-2610-003", Name: "Expert pack 4H",
		CompletedAt: time.Date(2026, 10, 31, 23, 59, 59, 0, time.UTC), Price: amount("450.00")}
	freeChange = OneOff{OrderRef: "SLPRO124-2610-005", Name: "Contract modification request",
		CompletedAt: time.Date(2026, 10, 5, 10, 0, 0, 0, time.UTC), Price: amount("0.00")}
	nextMonthPack = OneOff{OrderRef: "SLPRO124-2610-006", Name: "Expert pack 4H",
		CompletedAt: time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC), Price: amount("450.00")}
)

type wantLine struct {
	kind   LineKind
	ref    string
	amount string
}

func linesOf(inv Invoice) []wantLine {
	var out []wantLine
	for _, l := range inv.Lines {
		out = append(out, wantLine{l.Kind, l.Ref, l.Amount.String()})
	}
	return out
}

func TestComputeBillsTheMonth(t *testing.T) {
	tests := []struct {
		name      string
		in        Input
		wantLines []wantLine
		wantTotal string
	}{
		{
			name:      "a subscription in progress is billed its monthly price",
			in:        Input{Period: period("2026-10"), Subscriptions: []Subscription{c22xlarge}},
			wantLines: []wantLine{{LineMonthlyPrice, c22xlarge.Ref, "240.60"}},
			wantTotal: "240.60",
		},
		{
			name: "a subscription starting in the month adds its initial payment",
			in:   Input{Period: period("2026-10"), Subscriptions: []Subscription{c2large}},
			wantLines: []wantLine{
				{LineInitialPayment, c2large.Ref, "513.02"},
				{LineMonthlyPrice, c2large.Ref, "24.39"},
			},
			wantTotal: "537.41",
		},
		{
			name:      "the initial payment is billed once, in the start month",
			in:        Input{Period: period("2026-11"), Subscriptions: []Subscription{c2large}},
			wantLines: []wantLine{{LineMonthlyPrice, c2large.Ref, "24.39"}},
			wantTotal: "24.39",
		},
		{
			name:      "subscriptions not started or already over are not billed",
			in:        Input{Period: period("2026-10"), Subscriptions: []Subscription{notYet, over}},
			wantLines: nil,
			wantTotal: "0.00",
		},
		{
			name:      "the last month of a subscription is a whole month",
			in:        Input{Period: period("2026-10"), Subscriptions: []Subscription{lastMonth}},
			wantLines: []wantLine{{LineMonthlyPrice, lastMonth.Ref, "3596.45"}},
			wantTotal: "3596.45",
		},
		{
			name:      "a one-off order completed in the month is billed its price, free ones make no line",
			in:        Input{Period: period("2026-10"), OneOffs: []OneOff{expertPack, freeChange, nextMonthPack}},
			wantLines: []wantLine{{LineOneOff, expertPack.OrderRef, "450.00"}},
			wantTotal: "450.00",
		},
		{
			name: "usage is quantity times unit price, rounded half-up per line",
			in: Input{Period: period("2026-10"), Usage: []UsageLine{
				usage("Object Storage, GB-month", "730.5", "0.0425"), // 31.04625
				usage("Outbound traffic, GB", "100", "0.0125"),       // 1.25
				usage("Snapshot, GB-month", "1", "0.005"),            // 0.005
			}},
			wantLines: []wantLine{{LineUsage, "", "31.05"}, {LineUsage, "", "1.25"}, {LineUsage, "", "0.01"}},
			wantTotal: "32.31",
		},
		{
			name: "partial overlap: started on the 20th, 12 of 31 days",
			in: Input{Period: period("2026-10"), Subscriptions: []Subscription{{Ref: "S1", Name: "Mid-month",
				StartDate: day("2026-10-20"), EndDate: day("2027-10-19"), MonthlyPrice: amount("240.60")}}},
			wantLines: []wantLine{{LineMonthlyPrice, "S1", "93.14"}}, // 93.1354…
			wantTotal: "93.14",
		},
		{
			name: "partial overlap: ended on the 10th, 10 of 31 days",
			in: Input{Period: period("2026-10"), Subscriptions: []Subscription{{Ref: "S2", Name: "Ending",
				StartDate: day("2025-10-11"), EndDate: day("2026-10-10"), MonthlyPrice: amount("240.60")}}},
			wantLines: []wantLine{{LineMonthlyPrice, "S2", "77.61"}}, // 77.6129…
			wantTotal: "77.61",
		},
		{
			name: "partial overlap in a leap February: 15 of 29 days",
			in: Input{Period: period("2028-02"), Subscriptions: []Subscription{{Ref: "S3", Name: "Leap",
				StartDate: day("2028-02-15"), EndDate: day("2029-02-14"), MonthlyPrice: amount("60.15")}}},
			wantLines: []wantLine{{LineMonthlyPrice, "S3", "31.11"}}, // 31.1120…
			wantTotal: "31.11",
		},
		{
			name: "partial overlap rounds half-up: 1 of 30 days of 60.15 is 2.005",
			in: Input{Period: period("2026-11"), Subscriptions: []Subscription{{Ref: "S4", Name: "One day",
				StartDate: day("2026-11-30"), EndDate: day("2027-11-29"), MonthlyPrice: amount("60.15")}}},
			wantLines: []wantLine{{LineMonthlyPrice, "S4", "2.01"}},
			wantTotal: "2.01",
		},
		{
			name: "a whole month, everything together, in a stable order",
			in: Input{
				Period:        period("2026-10"),
				Subscriptions: []Subscription{notYet, c2large, over, c22xlarge, lastMonth},
				OneOffs:       []OneOff{nextMonthPack, expertPack, freeChange},
				Usage:         []UsageLine{usage("Outbound traffic, GB", "100", "0.0125")},
			},
			wantLines: []wantLine{
				{LineMonthlyPrice, lastMonth.Ref, "3596.45"},
				{LineMonthlyPrice, c22xlarge.Ref, "240.60"},
				{LineInitialPayment, c2large.Ref, "513.02"},
				{LineMonthlyPrice, c2large.Ref, "24.39"},
				{LineOneOff, expertPack.OrderRef, "450.00"},
				{LineUsage, "", "1.25"},
			},
			wantTotal: "4825.71",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inv, err := Compute(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := linesOf(inv); fmt.Sprint(got) != fmt.Sprint(tt.wantLines) {
				t.Errorf("lines = %v\nwant    %v", got, tt.wantLines)
			}
			if inv.TotalExclVAT.String() != tt.wantTotal {
				t.Errorf("total = %s, want %s", inv.TotalExclVAT, tt.wantTotal)
			}
			sum := money.Zero
			for _, l := range inv.Lines {
				sum = sum.Add(l.Amount)
				if !l.UnitPrice.Times(l.Quantity.Decimal()).Equal(l.Amount) {
					t.Errorf("%s: %s × %s ≠ %s", l.Label, l.Quantity, l.UnitPrice, l.Amount)
				}
			}
			if !sum.Equal(inv.TotalExclVAT) {
				t.Errorf("total %s is not the sum of the lines %s", inv.TotalExclVAT, sum)
			}
		})
	}
}

func TestLinesSayWhatTheyBill(t *testing.T) {
	inv, err := Compute(Input{Period: period("2026-10"), Subscriptions: []Subscription{c2large, {
		Ref: "S1", Name: "Mid-month", StartDate: day("2026-10-20"), EndDate: day("2027-10-19"), MonthlyPrice: amount("240.60"),
	}}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Reservation c2.large 2 years with upfront: initial payment",
		"Reservation c2.large 2 years with upfront: monthly price",
		"Mid-month: monthly price, 12 of 31 days",
	}
	for i, l := range inv.Lines {
		if l.Label != want[i] {
			t.Errorf("line %d label = %q, want %q", i, l.Label, want[i])
		}
	}
	if m := inv.Lines[1]; m.From != day("2026-10-01") || m.To != day("2026-10-31") || m.Quantity.String() != "1" || m.UnitPrice.String() != "24.39" {
		t.Errorf("monthly line = %+v", m)
	}
	if p := inv.Lines[2]; p.From != day("2026-10-20") || p.To != day("2026-10-31") {
		t.Errorf("pro-rata line covers %s..%s", p.From, p.To)
	}
	if ip := inv.Lines[0]; !ip.From.IsZero() {
		t.Errorf("an initial payment covers no days: %+v", ip)
	}
	if _, err := Compute(Input{}); err == nil {
		t.Error("Compute without a period must fail")
	}
}

func TestInputsComeFromSubscriptionsAndOrders(t *testing.T) {
	created := subscription.SubscriptionCreated{
		Ref: "SLPRO124-2609-002", ContractID: "OCB0000124", Name: "Reservation c2.large 2 years with upfront",
		StartDate: day("2026-10-01"), EndDate: day("2028-09-30"), MonthlyPrice: amount("24.39"), InitialPayment: amount("513.02"),
	}
	if got := SubscriptionFrom(created); fmt.Sprint(got) != fmt.Sprint(c2large) {
		t.Errorf("SubscriptionFrom = %+v, want %+v", got, c2large)
	}

	placedAt := time.Date(2026, 10, 3, 9, 0, 0, 0, time.UTC)
	completedAt := time.Date(2026, 10, 6, 9, 0, 0, 0, time.UTC)
	orderOf := func(code string, params map[string]any, complete bool) order.Order {
		q, err := catalog.Default().Quote(code, params)
		if err != nil {
			t.Fatal(err)
		}
		events, err := order.Place(order.PlaceOrder{ContractID: "OCB0000124", ServiceCode: code, PlacedBy: "paul.dupont"}, q, 3, "SLPRO124", placedAt)
		if err != nil {
			t.Fatal(err)
		}
		p := events[0].(order.OrderPlaced)
		var o order.Order
		o.Apply(p)
		if complete {
			o.Apply(order.OrderCompleted{Ref: p.Ref, ContractID: p.ContractID, CompletedAt: completedAt})
		}
		return o
	}
	got, ok := OneOffFrom(orderOf("PS104", nil, true))
	want := OneOff{OrderRef: "SLPRO124-2610-003", Name: "Expert pack 4H", CompletedAt: completedAt, Price: amount("450.00")}
	if !ok || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("OneOffFrom(completed expert pack) = %+v, %t", got, ok)
	}
	if free, ok := OneOffFrom(orderOf("PS001", nil, true)); !ok || !free.Price.IsZero() {
		t.Errorf("OneOffFrom(completed free order) = %+v, %t", free, ok)
	}
	if _, ok := OneOffFrom(orderOf("PS104", nil, false)); ok {
		t.Error("an order in progress is not billed")
	}
	if _, ok := OneOffFrom(orderOf("AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 12}, true)); ok {
		t.Error("a reservation is billed through its subscription, not as a one-off")
	}
}

var (
	now      = time.Date(2026, 11, 2, 6, 0, 0, 0, time.UTC)
	october  = period("2026-10")
	reported = UsageReported{ContractID: "OCB0000124", Period: october, ReportedAt: now.Add(-time.Hour),
		Lines: []UsageLine{usage("Outbound traffic, GB", "100", "0.0125")}}
	issueOctober = IssueInvoice{ContractID: "OCB0000124", Period: october,
		Subscriptions: []Subscription{c22xlarge}, OneOffs: []OneOff{expertPack}}
)

func TestIssueInvoiceOncePerPeriod(t *testing.T) {
	issued := InvoiceIssued{
		InvoiceID: "INV-OCB0000124-2026-10", ContractID: "OCB0000124", Period: october, IssuedOn: day("2026-11-02"),
		TotalExclVAT: amount("691.85"), Currency: "EUR",
	}
	tests := []struct {
		name      string
		given     []domain.Event
		cmd       IssueInvoice
		wantTotal string // "" for no event
		wantLines int
	}{
		{"the first run issues the invoice, usage included", []domain.Event{reported}, issueOctober, "691.85", 3},
		{"without usage the invoice has the rest", nil, issueOctober, "690.60", 2},
		{"a second run issues nothing", []domain.Event{reported, issued}, issueOctober, "", 0},
		{"nothing to bill, no invoice", nil, IssueInvoice{ContractID: "OCB0000124", Period: october, Subscriptions: []Subscription{notYet}}, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Ledger
			for _, e := range tt.given {
				l.Apply(e)
			}
			events, err := l.Issue(tt.cmd, now)
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantTotal == "" {
				if events != nil {
					t.Fatalf("events = %+v, want none", events)
				}
				return
			}
			if len(events) != 1 {
				t.Fatalf("events = %+v", events)
			}
			e := events[0].(InvoiceIssued)
			if e.InvoiceID != "INV-OCB0000124-2026-10" || e.ContractID != "OCB0000124" || e.Period != october ||
				e.IssuedOn != day("2026-11-02") || e.Currency != "EUR" || e.TotalExclVAT.String() != tt.wantTotal || len(e.Lines) != tt.wantLines {
				t.Errorf("invoice = %+v", e)
			}
		})
	}
}

func TestUsageReports(t *testing.T) {
	issued := InvoiceIssued{InvoiceID: "INV-OCB0000124-2026-10", ContractID: "OCB0000124", Period: october}
	type fieldCode struct{ field, code string }
	tests := []struct {
		name       string
		given      []domain.Event
		cmd        ReportUsage
		wantFields []fieldCode
		wantErr    error
	}{
		{"a report is recorded", nil, ReportUsage{ContractID: "OCB0000124", Period: october, Lines: reported.Lines}, nil, nil},
		{"reports add up", []domain.Event{reported}, ReportUsage{ContractID: "OCB0000124", Period: october, Lines: reported.Lines}, nil, nil},
		{"no usage after the invoice", []domain.Event{reported, issued}, ReportUsage{ContractID: "OCB0000124", Period: october, Lines: reported.Lines}, nil, domain.ErrConflict},
		{"a report needs a period and lines", nil, ReportUsage{ContractID: "OCB0000124"},
			[]fieldCode{{"period", "required"}, {"lines", "required"}}, nil},
		{"every line is checked", nil, ReportUsage{ContractID: "OCB0000124", Period: october, Lines: []UsageLine{
			usage("  ", "1", "1"), usage("GB", "-1", "1"), usage("GB", "1", "-0.01"), usage(strings.Repeat("x", 201), "1", "1"),
		}}, []fieldCode{{"lines[0].item", "required"}, {"lines[1].quantity", "negative"}, {"lines[2].unit_price", "negative"}, {"lines[3].item", "too_long"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Ledger
			for _, e := range tt.given {
				l.Apply(e)
			}
			events, err := l.ReportUsage(tt.cmd, now)
			switch {
			case tt.wantFields != nil:
				var ve *domain.ValidationError
				if !errors.As(err, &ve) {
					t.Fatalf("error = %v, want a ValidationError", err)
				}
				var got []fieldCode
				for _, fe := range ve.Errors {
					got = append(got, fieldCode{fe.Field, fe.Code})
				}
				if fmt.Sprint(got) != fmt.Sprint(tt.wantFields) {
					t.Errorf("errors = %v, want %v", got, tt.wantFields)
				}
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) || events != nil {
					t.Errorf("= %v, %v; want %v", events, err, tt.wantErr)
				}
			default:
				if err != nil || len(events) != 1 {
					t.Fatalf("= %v, %v", events, err)
				}
				e := events[0].(UsageReported)
				if e.ContractID != "OCB0000124" || e.Period != october || !e.ReportedAt.Equal(now) || len(e.Lines) != 1 {
					t.Errorf("reported = %+v", e)
				}
				l.Apply(e)
				if len(l.Usage()) != len(tt.given)+1 {
					t.Errorf("ledger holds %d usage lines after %d reports", len(l.Usage()), len(tt.given)+1)
				}
			}
		})
	}
}

func TestALedgerOnlyDecidesForItsContractAndPeriod(t *testing.T) {
	var l Ledger
	l.Apply(reported)
	if _, err := l.ReportUsage(ReportUsage{ContractID: "OCB0000999", Period: october, Lines: reported.Lines}, now); err == nil {
		t.Error("usage of another contract accepted")
	}
	other := issueOctober
	other.Period = period("2026-09")
	if _, err := l.Issue(other, now); err == nil {
		t.Error("an invoice of another period accepted")
	}
	if _, err := (Ledger{}).Issue(IssueInvoice{}, now); err == nil {
		t.Error("an invoice without contract and period accepted")
	}
}

func TestEventsRoundTripThroughTheirRegisteredTypes(t *testing.T) {
	var l Ledger
	l.Apply(reported)
	events, err := l.Issue(issueOctober, now)
	if err != nil {
		t.Fatal(err)
	}
	all := []domain.Event{reported, events[0]}
	domaintest.RoundTrip(t, EventTypes, all...)
	data, _ := json.Marshal(events[0])
	for _, want := range []string{
		`"invoice_id":"INV-OCB0000124-2026-10"`, `"period":"2026-10"`, `"issued_on":"2026-11-02"`,
		`"total_excl_vat":{"amount":"691.85","currency":"EUR"}`, `"currency":"EUR"`,
		`"quantity":"100","unit_price":{"amount":"0.0125","currency":"EUR"},"amount_excl_vat":{"amount":"1.25","currency":"EUR"}`,
		`"from":"2026-10-01","to":"2026-10-31"`,
	} {
		if !strings.Contains(string(data), want) {
			t.Errorf("InvoiceIssued JSON lacks %s: %s", want, data)
		}
	}
}
