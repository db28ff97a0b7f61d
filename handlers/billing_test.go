package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"selfcare/commands"
	"selfcare/domain/billing"
	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

func usagePath(cid string) string { return "/api/v1/admin/contracts/" + cid + "/usage" }

func runBilling(t *testing.T, env *testkit.Env, period string) map[string]any {
	t.Helper()
	return testkit.Expect(t, env.Post("/api/v1/admin/billing-runs", testkit.AdminToken, map[string]any{"period": period}), http.StatusCreated).Map(t)
}

func TestABillingRunIssuesOneInvoicePerContractAndPeriod(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0) // 2026-11-24
	env := testkit.New(t, testkit.WithClock(clk))
	a := env.NewContract("Alpha")
	b := env.NewContract("Beta")
	env.NewContract("Idle") // nothing to bill

	// Alpha: two reservations starting 2026-12-01, one with upfront.
	complete(t, env, placeRef(t, env, a, reservation("c2.large", 24, true)))    // 513.02 + 24.39/month
	complete(t, env, placeRef(t, env, a, reservation("c2.2xlarge", 12, false))) // 240.60/month
	novemberPack := placeRef(t, env, a, map[string]any{"service_code": "PS108"})
	complete(t, env, novemberPack) // completed in November: not December's
	// Beta: a reservation starting in December too.
	complete(t, env, placeRef(t, env, b, reservation("c2.xlarge", 12, false))) // 120.30/month

	clk.Set(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
	a.ReferentToken = env.SignIn(a.ReferentLogin, testkit.Password)
	complete(t, env, placeRef(t, env, a, map[string]any{"service_code": "PS104"})) // 450, completed in December
	complete(t, env, placeRef(t, env, a, map[string]any{"service_code": "SC401", "parameters": map[string]any{"region": "eu-west-0"}}))
	testkit.Expect(t, env.Post(usagePath(a.ID), testkit.AdminToken, map[string]any{"period": "2026-12", "lines": []any{
		map[string]any{"item": "Object Storage GB-month", "quantity": "1200.5", "unit_price": map[string]any{"amount": "0.0125"}},
	}}), http.StatusCreated)
	testkit.Expect(t, env.Post(usagePath(a.ID), testkit.AdminToken, map[string]any{"period": "2026-12", "lines": []any{
		map[string]any{"item": "Outbound bandwidth GB", "quantity": 10, "unit_price": map[string]any{"amount": "0.09", "currency": "EUR"}},
	}}), http.StatusCreated)

	// December is not over: no run yet, but the pre-invoice shows it.
	if codes := testkit.Expect(t, env.Post("/api/v1/admin/billing-runs", testkit.AdminToken, map[string]any{"period": "2026-12"}), http.StatusBadRequest).FieldCodes(t); codes["period"] != "not_ended" {
		t.Errorf("billing the current month: %v", codes)
	}
	statements := items(t, testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID+"/usage-reports", a.ReferentToken), http.StatusOK))
	if len(statements) == 0 || statements[0]["period"] != "2026-12" || statements[0]["pre_invoice"] == nil {
		t.Fatalf("statements = %v", statements)
	}
	pre := statements[0]["pre_invoice"].(map[string]any)
	if amount(t, pre["amount_excl_vat"]) != "1243.92" || amount(t, statements[0]["usage_excl_vat"]) != "15.91" || len(statements[0]["usage_reports"].([]any)) != 2 {
		t.Errorf("December's pre-invoice = %v, usage %v", pre["amount_excl_vat"], statements[0]["usage_excl_vat"])
	}

	// A crash after Alpha's invoice: the next run completes the rest.
	clk.Set(time.Date(2027, 1, 2, 8, 0, 0, 0, time.UTC))
	a.ReferentToken = env.SignIn(a.ReferentLogin, testkit.Password)
	b.ReferentToken = env.SignIn(b.ReferentLogin, testkit.Password)
	billing := &commands.Billing{App: env.Server.App}
	ctx := commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorOperator, Login: "operator"})
	if issued, err := billing.Issue(ctx, a.ID, mustPeriod(t, "2026-12")); err != nil || !issued {
		t.Fatalf("issue Alpha's invoice alone: %t, %v", issued, err)
	}
	run := runBilling(t, env, "2026-12")
	if run["invoices_issued"] != float64(1) || run["contracts"] != float64(3) || run["period"] != "2026-12" {
		t.Errorf("the run after the crash = %v, want Beta's invoice only", run)
	}
	if again := runBilling(t, env, "2026-12"); again["invoices_issued"] != float64(0) {
		t.Errorf("a second run = %v, want nothing new", again)
	}
	if n := env.CountEvents("InvoiceIssued"); n != 2 {
		t.Fatalf("%d invoices issued, want 2", n)
	}
	testkit.Expect(t, env.Post(usagePath(a.ID), testkit.AdminToken, map[string]any{"period": "2026-12", "lines": []any{
		map[string]any{"item": "late", "quantity": "1", "unit_price": map[string]any{"amount": "1"}},
	}}), http.StatusConflict)

	// Alpha's manager sees the invoice, its amount and its lines.
	section := testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID+"/invoices", a.ReferentToken), http.StatusOK).Map(t)
	if contact := section["contact"].(map[string]any); contact["email"] != "invoices@example.com" {
		t.Errorf("contact = %v", contact)
	}
	invoices := section["items"].([]any)
	last := section["last_invoice"].(map[string]any)
	if len(invoices) != 1 || last["id"] != "INV-"+a.ID+"-2026-12" || last["period"] != "2026-12" || last["issued_on"] != "2027-01-02" ||
		amount(t, last["amount_excl_vat"]) != "1243.92" {
		t.Fatalf("invoices = %v, last %v", invoices, last)
	}
	inv := testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID+"/invoices/"+last["id"].(string), a.ReferentToken), http.StatusOK).Map(t)
	wantLines := []struct{ kind, amount string }{
		{"initial_payment", "513.02"}, {"monthly_price", "24.39"}, {"monthly_price", "240.60"},
		{"one_off", "450.00"}, {"usage", "15.01"}, {"usage", "0.90"},
	}
	lines := inv["lines"].([]any)
	if len(lines) != len(wantLines) {
		t.Fatalf("invoice lines = %v", lines)
	}
	for i, w := range wantLines {
		l := lines[i].(map[string]any)
		if l["kind"] != w.kind || amount(t, l["amount_excl_vat"]) != w.amount {
			t.Errorf("line %d = %v, want %s %s", i, l, w.kind, w.amount)
		}
	}
	testkit.Expect(t, env.Get("/api/v1/contracts/"+b.ID+"/invoices/"+last["id"].(string), b.ReferentToken), http.StatusNotFound)
	beta := testkit.Expect(t, env.Get("/api/v1/contracts/"+b.ID+"/invoices?lines=true", b.ReferentToken), http.StatusOK).Map(t)
	if bi := beta["items"].([]any); len(bi) != 1 || amount(t, bi[0].(map[string]any)["amount_excl_vat"]) != "120.30" || bi[0].(map[string]any)["lines"] == nil {
		t.Errorf("Beta's invoices = %v", beta)
	}

	// January is not invoiced: its pre-invoice is the month's recurring
	// prices so far; December shows its invoice.
	statements = items(t, testkit.Expect(t, env.Get("/api/v1/contracts/"+a.ID+"/usage-reports", a.ReferentToken), http.StatusOK))
	if len(statements) != 3 || statements[0]["period"] != "2027-01" || statements[1]["invoice_id"] != "INV-"+a.ID+"-2026-12" ||
		statements[1]["pre_invoice"] != nil || statements[2]["period"] != "2026-11" {
		t.Fatalf("statements = %v", statements)
	}
	if jan := statements[0]["pre_invoice"].(map[string]any); amount(t, jan["amount_excl_vat"]) != "264.99" {
		t.Errorf("January's pre-invoice = %v", jan)
	}
	if nov := statements[2]["pre_invoice"].(map[string]any); amount(t, nov["amount_excl_vat"]) != "850.00" {
		t.Errorf("November's pre-invoice (the pack completed then) = %v", nov)
	}
}

func mustPeriod(t *testing.T, s string) billing.Period {
	t.Helper()
	p, err := billing.ParsePeriod(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInvoicesVisitorsSeeTheContactButNoAmounts(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0)
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("Acme")
	complete(t, env, placeRef(t, env, c, map[string]any{"service_code": "PS104"}))
	clk.Set(time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC))
	if run := runBilling(t, env, "2026-11"); run["invoices_issued"] != float64(1) {
		t.Fatalf("billing run = %v", run)
	}
	c.ReferentToken = env.SignIn(c.ReferentLogin, testkit.Password)
	visitor := env.DeclareMember(c.ID, map[string]string{"invoices": "visitor"})
	none := env.DeclareMember(c.ID, map[string]string{"invoices": "none"})
	r := testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/invoices", visitor.Token), http.StatusOK)
	got := r.Map(t)
	if contact, _ := got["contact"].(map[string]any); contact["phone"] != "+33 1 00 00 00 01" || contact["email"] != "invoices@example.com" {
		t.Errorf("a visitor's invoices section = %v", got)
	}
	if list, ok := got["items"].([]any); !ok || len(list) != 0 || got["last_invoice"] != nil {
		t.Errorf("a visitor sees invoices: %s", r.Body)
	}
	testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/invoices/INV-"+c.ID+"-2026-11", visitor.Token), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/usage-reports", visitor.Token), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/invoices", none.Token), http.StatusForbidden)
	manager := testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/invoices", c.ReferentToken), http.StatusOK).Map(t)
	if list, ok := manager["items"].([]any); !ok || len(list) != 1 || manager["contact"] == nil || manager["last_invoice"] == nil {
		t.Errorf("a manager's invoices section = %v", manager)
	}
	testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/invoices/INV-"+c.ID+"-2026-11", c.ReferentToken), http.StatusOK)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID+"/invoices/INV-"+c.ID+"-2026-10", c.ReferentToken), http.StatusNotFound)
}

func TestBadUsageReportsAndBillingRunsAreRefusedAndWriteNothing(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithClock(clock.NewManual(t0)))
	c := env.NewContract("Acme")
	before := env.RequestEventCount()
	line := func(item string, quantity, unitPrice any) map[string]any {
		if s, ok := unitPrice.(string); ok {
			unitPrice = map[string]any{"amount": s, "currency": "EUR"}
		}
		return map[string]any{"item": item, "quantity": quantity, "unit_price": unitPrice}
	}
	tests := []struct {
		name string
		path string
		body any
		want map[string]string
	}{
		{"no period, no lines", usagePath(c.ID), map[string]any{}, map[string]string{"period": "required"}},
		{"bad period", usagePath(c.ID), map[string]any{"period": "2026-13", "lines": []any{line("x", "1", "1")}}, map[string]string{"period": "invalid"}},
		{"future period", usagePath(c.ID), map[string]any{"period": "2027-01", "lines": []any{line("x", "1", "1")}}, map[string]string{"period": "in_future"}},
		{"no lines", usagePath(c.ID), map[string]any{"period": "2026-10", "lines": []any{}}, map[string]string{"lines": "required"}},
		{"bad lines", usagePath(c.ID), map[string]any{"period": "2026-10", "lines": []any{
			line("", "1", "1"), line("GB", "1e3", "1"), line("GB", "1", 0.5), line("GB", nil, nil), line("GB", "-2", "-0.01"),
			map[string]any{"item": "GB", "quantity": "1", "unit_price": "0.5"},
		}}, map[string]string{
			"lines[5].unit_price": "invalid",
			"lines[0].item":       "required", "lines[1].quantity": "invalid", "lines[2].unit_price": "invalid",
			"lines[3].quantity": "required", "lines[3].unit_price": "required",
			"lines[4].quantity": "negative", "lines[4].unit_price": "negative",
		}},
		{"too precise", usagePath(c.ID), map[string]any{"period": "2026-10", "lines": []any{line("GB", "1.0000001", "0.0000001")}},
			map[string]string{"lines[0].quantity": "invalid", "lines[0].unit_price": "invalid"}},
		{"lines not a list", usagePath(c.ID), map[string]any{"period": "2026-10", "lines": "GB"}, map[string]string{"lines": "invalid_type"}},
		{"run without period", "/api/v1/admin/billing-runs", map[string]any{}, map[string]string{"period": "required"}},
		{"run with a bad period", "/api/v1/admin/billing-runs", map[string]any{"period": "october"}, map[string]string{"period": "invalid"}},
		{"run of the current month", "/api/v1/admin/billing-runs", map[string]any{"period": "2026-11"}, map[string]string{"period": "not_ended"}},
		{"run not JSON", "/api/v1/admin/billing-runs", "{", map[string]string{"body": "invalid_json"}},
	}
	for _, tt := range tests {
		r := env.Do(testkit.Request{Method: http.MethodPost, Path: tt.path, Token: testkit.AdminToken, Body: tt.body})
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: got %s, want 400", tt.name, r)
			continue
		}
		codes := r.FieldCodes(t)
		for field, code := range tt.want {
			if codes[field] != code {
				t.Errorf("%s: %s = %q, want %q (all: %v)", tt.name, field, codes[field], code, codes)
			}
		}
	}
	testkit.Expect(t, env.Post(usagePath("OCB9999999"), testkit.AdminToken, map[string]any{"period": "2026-10", "lines": []any{line("GB", "1", "1")}}), http.StatusNotFound)
	testkit.Expect(t, env.Post(usagePath(c.ID), c.ReferentToken, map[string]any{"period": "2026-10", "lines": []any{line("GB", "1", "1")}}), http.StatusForbidden)
	testkit.Expect(t, env.Post("/api/v1/admin/billing-runs", c.ReferentToken, map[string]any{"period": "2026-10"}), http.StatusForbidden)
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("refused requests wrote %d events", after-before)
	}
}
