package handlers_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

// t0 is the test clock's start: 24 November 2026, a Tuesday.
var t0 = time.Date(2026, 11, 24, 10, 15, 0, 0, time.UTC)

func reservation(flavor string, months int, upfront bool) map[string]any {
	return map[string]any{
		"service_code": "AD135",
		"parameters":   map[string]any{"region": "eu-west-0", "flavor": flavor, "duration_months": months, "upfront": upfront},
	}
}

func ordersPath(cid string) string { return "/api/v1/contracts/" + cid + "/orders" }

func amount(t *testing.T, v any) string {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok || m["currency"] != "EUR" {
		t.Fatalf("%v is not a money object in EUR", v)
	}
	return m["amount"].(string)
}

func TestOrdersArePricedAsTheGuideSays(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithClock(clock.NewManual(t0)))
	c := env.NewContract("SL_Prod")
	tests := []struct {
		flavor           string
		months           int
		upfront          bool
		name             string
		monthly, initial string
	}{
		{"c2.large", 12, false, "Reservation c2.large 1 year without upfront", "60.15", "0.00"},
		{"c2.xlarge", 12, false, "Reservation c2.xlarge 1 year without upfront", "120.30", "0.00"},
		{"c2.2xlarge", 12, false, "Reservation c2.2xlarge 1 year without upfront", "240.60", "0.00"},
		{"e2.4xlarge", 12, false, "Reservation e2.4xlarge 1 year without upfront", "3596.45", "0.00"},
		{"c2.large", 24, true, "Reservation c2.large 2 years with upfront", "24.39", "513.02"},
		{"c2.xlarge", 12, true, "Reservation c2.xlarge 1 year with upfront", "57.03", "658.19"},
		{"c2.2xlarge", 36, true, "Reservation c2.2xlarge 3 years with upfront", "79.51", "2681.06"},
	}
	for i, tt := range tests {
		o := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, reservation(tt.flavor, tt.months, tt.upfront)), http.StatusCreated).Map(t)
		wantRef := fmt.Sprintf("SLPRO%s-2611-%03d", strings.TrimLeft(c.ID[3:], "0"), i+1)
		if o["ref"] != wantRef || o["name"] != tt.name || o["status"] != "in_progress" || o["placed_by"] != c.ReferentLogin || o["service_code"] != "AD135" {
			t.Errorf("order %d = %v; want ref %s, name %q, in progress, placed by %s", i, o, wantRef, tt.name, c.ReferentLogin)
		}
		if got := amount(t, o["monthly_price"]); got != tt.monthly {
			t.Errorf("%s: monthly price %s, want %s", tt.name, got, tt.monthly)
		}
		// The name in each language of the customer area, for French readers.
		names, _ := o["names"].(map[string]any)
		if names["en"] != tt.name || !strings.HasPrefix(fmt.Sprint(names["fr"]), "Réservation "+tt.flavor+" ") {
			t.Errorf("%s: names %v", tt.name, o["names"])
		}
		if got := amount(t, o["price"]); got != tt.monthly {
			t.Errorf("%s: price %s, want the monthly price %s", tt.name, got, tt.monthly)
		}
		if got := amount(t, o["initial_payment"]); got != tt.initial {
			t.Errorf("%s: initial payment %s, want %s", tt.name, got, tt.initial)
		}
		params := o["parameters"].(map[string]any)
		if params["region"] != "eu-west-0" || params["flavor"] != tt.flavor || params["duration_months"] != fmt.Sprint(tt.months) || params["upfront"] != fmt.Sprint(tt.upfront) {
			t.Errorf("%s: parameters %v", tt.name, params)
		}
		if o["placed_at"] != "2026-11-24T10:15:00Z" {
			t.Errorf("%s: placed_at %v", tt.name, o["placed_at"])
		}
	}
	expert := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{
		"service_code": "PS104", "contact": map[string]any{"name": "Paul Dupont", "phone": "+33 1 23 45 67 89"},
	}), http.StatusCreated).Map(t)
	if expert["name"] != "Expert pack 4H" || amount(t, expert["price"]) != "450.00" || expert["monthly_price"] != nil || expert["initial_payment"] != nil {
		t.Errorf("Expert pack 4H order = %v", expert)
	}
	if contact, _ := expert["contact"].(map[string]any); contact["name"] != "Paul Dupont" {
		t.Errorf("the order keeps its contact: %v", expert["contact"])
	}
	// The order reads back the same, and so does the list.
	got := testkit.Expect(t, env.Get(ordersPath(c.ID)+"/"+expert["ref"].(string), c.ReferentToken), http.StatusOK).Map(t)
	if got["ref"] != expert["ref"] || amount(t, got["price"]) != "450.00" {
		t.Errorf("GET order = %v", got)
	}
	list := testkit.Expect(t, env.Get(ordersPath(c.ID)+"?sort=ref", c.ReferentToken), http.StatusOK).Map(t)
	if items := list["items"].([]any); len(items) != 8 || items[0].(map[string]any)["name"] != tests[0].name {
		t.Errorf("orders list = %v", list)
	}
}

func TestOnlyServicesManagersPlaceOrdersAndOrdersVisitorsReadThem(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Acme")
	visitor := env.DeclareMember(c.ID, map[string]string{"services": "visitor", "orders": "visitor"})
	manager := env.DeclareMember(c.ID, map[string]string{"services": "manager", "orders": "none"})
	other := env.NewContract("Other")
	before := env.RequestEventCount()
	testkit.Expect(t, env.Post(ordersPath(c.ID), visitor.Token, reservation("c2.large", 12, false)), http.StatusForbidden)
	testkit.Expect(t, env.Post(ordersPath(c.ID), "", reservation("c2.large", 12, false)), http.StatusUnauthorized)
	testkit.Expect(t, env.Post(ordersPath(c.ID), testkit.AdminToken, reservation("c2.large", 12, false)), http.StatusForbidden)
	testkit.Expect(t, env.Post(ordersPath(c.ID), other.ReferentToken, reservation("c2.large", 12, false)), http.StatusNotFound)
	if env.RequestEventCount() != before {
		t.Fatal("a refused order wrote events")
	}

	placed := testkit.Expect(t, env.Post(ordersPath(c.ID), manager.Token, reservation("c2.large", 12, false)), http.StatusCreated).Map(t)
	if placed["placed_by"] != manager.Login {
		t.Errorf("placed_by = %v, want %s", placed["placed_by"], manager.Login)
	}
	// The manager has no right on the orders section: the list is closed
	// to them, while an orders visitor sees every order of the contract.
	testkit.Expect(t, env.Get(ordersPath(c.ID), manager.Token), http.StatusForbidden)
	list := testkit.Expect(t, env.Get(ordersPath(c.ID), visitor.Token), http.StatusOK).Map(t)
	if items := list["items"].([]any); len(items) != 1 || items[0].(map[string]any)["ref"] != placed["ref"] {
		t.Errorf("the visitor's orders list = %v", list)
	}
	testkit.Expect(t, env.Get(ordersPath(c.ID)+"/"+placed["ref"].(string), visitor.Token), http.StatusOK)
	testkit.Expect(t, env.Get(ordersPath(other.ID)+"/"+placed["ref"].(string), other.ReferentToken), http.StatusNotFound)
	testkit.Expect(t, env.Get(ordersPath(c.ID)+"/NOPE-2611-001", visitor.Token), http.StatusNotFound)
}

func TestADuplicateIdempotencyKeyPlacesOneOrder(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Acme")
	place := func(key string) *testkit.Response {
		return env.Do(testkit.Request{Method: http.MethodPost, Path: ordersPath(c.ID), Token: c.ReferentToken,
			Body: reservation("c2.xlarge", 12, false), Header: map[string]string{"Idempotency-Key": key}})
	}
	first := testkit.Expect(t, place("click-1"), http.StatusCreated)
	retry := testkit.Expect(t, place("click-1"), http.StatusCreated)
	if retry.Header.Get("Idempotent-Replayed") != "true" || retry.Map(t)["ref"] != first.Map(t)["ref"] {
		t.Errorf("the retry was not the first response replayed: %s vs %s", retry, first)
	}
	if n := env.CountEvents("OrderPlaced"); n != 1 {
		t.Fatalf("%d orders placed, want 1", n)
	}
	// The same key with another body is a conflict, and places nothing.
	r := env.Do(testkit.Request{Method: http.MethodPost, Path: ordersPath(c.ID), Token: c.ReferentToken,
		Body: reservation("c2.large", 12, false), Header: map[string]string{"Idempotency-Key": "click-1"}})
	testkit.Expect(t, r, http.StatusConflict)

	// Two clicks at once with one key: one order, and the other request
	// either replays it or is told to retry.
	const clicks = 6
	var wg sync.WaitGroup
	statuses := make([]int, clicks)
	refs := make([]string, clicks)
	for i := range clicks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := place("click-2")
			statuses[i] = r.Status
			if r.Status == http.StatusCreated {
				refs[i] = r.Map(t)["ref"].(string)
			}
		}()
	}
	wg.Wait()
	created := map[string]bool{}
	for i, s := range statuses {
		switch s {
		case http.StatusCreated:
			created[refs[i]] = true
		case http.StatusConflict:
		default:
			t.Errorf("click %d: status %d", i, s)
		}
	}
	if len(created) != 1 {
		t.Errorf("concurrent clicks answered with orders %v, want exactly one", created)
	}
	if n := env.CountEvents("OrderPlaced"); n != 2 {
		t.Fatalf("%d orders placed in all, want 2", n)
	}
}

func TestReferencesAreSequentialUnderConcurrentOrders(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithClock(clock.NewManual(t0)))
	c := env.NewContract("Honey")
	const orders = 12
	var wg sync.WaitGroup
	refs := make(chan string, orders)
	for range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{"service_code": "PS104"})
			if r.Status != http.StatusCreated {
				t.Errorf("concurrent order: %s", r)
				return
			}
			refs <- r.Map(t)["ref"].(string)
		}()
	}
	wg.Wait()
	close(refs)
	var got []string
	for ref := range refs {
		got = append(got, ref)
	}
	sort.Strings(got)
	code := "HONEY" + strings.TrimLeft(c.ID[3:], "0")
	for i, ref := range got {
		if want := fmt.Sprintf("%s-2611-%03d", code, i+1); ref != want {
			t.Fatalf("references %v: number %d is %s, want %s (unique, no gap)", got, i+1, ref, want)
		}
	}
	if len(got) != orders {
		t.Fatalf("%d orders placed, want %d", len(got), orders)
	}
}

func TestBadOrdersAreRefusedFieldByFieldAndWriteNothing(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Acme")
	before := env.RequestEventCount()
	tests := []struct {
		name string
		body any
		want map[string]string
	}{
		{"unknown service", map[string]any{"service_code": "XX999"}, map[string]string{"service_code": "unknown"}},
		{"no service", map[string]any{}, map[string]string{"service_code": "required"}},
		{"bad flavor and missing duration", map[string]any{"service_code": "AD135",
			"parameters": map[string]any{"region": "eu-west-0", "flavor": "z9.huge", "upfront": false}},
			map[string]string{"parameters.flavor": "invalid", "parameters.duration_months": "required"}},
		{"duration not offered, unknown parameter", map[string]any{"service_code": "AD135",
			"parameters": map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 18, "upfront": false, "colour": "red"}},
			map[string]string{"parameters.duration_months": "invalid", "parameters.colour": "unknown"}},
		{"upfront not a boolean", map[string]any{"service_code": "AD135",
			"parameters": map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 12, "upfront": "maybe"}},
			map[string]string{"parameters.upfront": "invalid"}},
		{"bad parameters and bad contact together", map[string]any{"service_code": "AD135",
			"parameters": map[string]any{"region": "mars-1", "flavor": "c2.large", "duration_months": 12, "upfront": false},
			"contact":    map[string]any{"name": "", "email": "nope"}},
			map[string]string{"parameters.region": "invalid", "contact.name": "required", "contact.email": "invalid"}},
		{"bad contact", map[string]any{"service_code": "PS104", "contact": map[string]any{"name": "Paul", "phone": "abc"}},
			map[string]string{"contact.phone": "invalid"}},
		{"parameters not an object", map[string]any{"service_code": "AD135", "parameters": "c2.large"},
			map[string]string{"parameters": "invalid_type"}},
		{"not JSON", "{", map[string]string{"body": "invalid_json"}},
		{"no body", "", map[string]string{"body": "required"}},
	}
	for _, tt := range tests {
		r := env.Do(testkit.Request{Method: http.MethodPost, Path: ordersPath(c.ID), Token: c.ReferentToken, Body: tt.body})
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
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("refused orders wrote %d events", after-before)
	}
}

func TestTheBackOfficeCompletesOrRejectsAnOrderOnce(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithClock(clock.NewManual(t0)))
	c := env.NewContract("Acme")
	resv := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, reservation("c2.large", 24, true)), http.StatusCreated).Map(t)["ref"].(string)
	pack := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{"service_code": "PS104"}), http.StatusCreated).Map(t)["ref"].(string)
	admin := func(ref, verb string, body any) *testkit.Response {
		return env.Post("/api/v1/admin/orders/"+ref+"/"+verb, testkit.AdminToken, body)
	}
	testkit.Expect(t, env.Post("/api/v1/admin/orders/"+resv+"/complete", c.ReferentToken, nil), http.StatusForbidden)

	done := testkit.Expect(t, admin(resv, "complete", nil), http.StatusOK).Map(t)
	if done["subscription_ref"] != resv {
		t.Errorf("a completed reservation links to its subscription: %v", done)
	}
	if done["status"] != "completed" || done["completed_at"] != "2026-11-24T10:15:00Z" || done["ref"] != resv {
		t.Errorf("completed order = %v", done)
	}
	if n := env.CountEvents("SubscriptionCreated"); n != 1 {
		t.Errorf("completing a reservation created %d subscriptions, want 1", n)
	}
	testkit.Expect(t, admin(resv, "complete", nil), http.StatusConflict)
	testkit.Expect(t, admin(resv, "reject", nil), http.StatusConflict)

	long := strings.Repeat("x", 501)
	before := env.RequestEventCount()
	if codes := testkit.Expect(t, admin(pack, "reject", map[string]any{"reason": long}), http.StatusBadRequest).FieldCodes(t); codes["reason"] != "too_long" {
		t.Errorf("a long reason: %v", codes)
	}
	if codes := testkit.Expect(t, admin(pack, "reject", map[string]any{"reason": 42}), http.StatusBadRequest).FieldCodes(t); codes["reason"] != "invalid_type" {
		t.Errorf("a reason that is not text: %v", codes)
	}
	if env.RequestEventCount() != before {
		t.Fatal("a refused rejection wrote events")
	}
	rejected := testkit.Expect(t, admin(pack, "reject", map[string]any{"reason": "no expert available"}), http.StatusOK).Map(t)
	if rejected["status"] != "rejected" || rejected["reject_reason"] != "no expert available" || rejected["rejected_at"] == nil {
		t.Errorf("rejected order = %v", rejected)
	}
	if n := env.CountEvents("SubscriptionCreated"); n != 1 {
		t.Errorf("%d subscriptions, want still 1", n)
	}
	// A one-off order completed creates no subscription; a reject without
	// a body is fine.
	other := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{"service_code": "PS108"}), http.StatusCreated).Map(t)["ref"].(string)
	testkit.Expect(t, admin(other, "complete", nil), http.StatusOK)
	if n := env.CountEvents("SubscriptionCreated"); n != 1 {
		t.Errorf("%d subscriptions after a one-off order, want 1", n)
	}
	testkit.Expect(t, admin("SLPRO1-2611-999", "complete", nil), http.StatusNotFound)
	testkit.Expect(t, admin("garbage", "reject", nil), http.StatusNotFound)
}

func TestMyOrdersAreMineAndThoseOfContractsIAmReferentOf(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Alpha")
	b := env.NewContract("Beta")
	mgrA := env.DeclareMember(a.ID, map[string]string{"services": "manager"})
	mgrB := env.DeclareMember(b.ID, map[string]string{"services": "manager"})
	mine := testkit.Expect(t, env.Post(ordersPath(a.ID), mgrA.Token, map[string]any{"service_code": "PS104"}), http.StatusCreated).Map(t)["ref"]
	byReferent := testkit.Expect(t, env.Post(ordersPath(a.ID), a.ReferentToken, map[string]any{"service_code": "PS108"}), http.StatusCreated).Map(t)["ref"]
	onB := testkit.Expect(t, env.Post(ordersPath(b.ID), mgrB.Token, map[string]any{"service_code": "PS104"}), http.StatusCreated).Map(t)["ref"]

	refs := func(token, query string) []any {
		list := testkit.Expect(t, env.Get("/api/v1/me/orders"+query, token), http.StatusOK).Map(t)
		var out []any
		for _, it := range list["items"].([]any) {
			out = append(out, it.(map[string]any)["ref"])
		}
		return out
	}
	if got := refs(mgrA.Token, ""); len(got) != 1 || got[0] != mine {
		t.Errorf("a manager's orders = %v, want only %v", got, mine)
	}
	if got := refs(a.ReferentToken, "?sort=ref"); len(got) != 2 || got[0] != mine && got[1] != mine || got[0] != byReferent && got[1] != byReferent {
		t.Errorf("the referent's orders = %v, want %v and %v", got, mine, byReferent)
	}
	if got := refs(b.ReferentToken, ""); len(got) != 1 || got[0] != onB {
		t.Errorf("B's referent's orders = %v, want %v", got, onB)
	}
	list := testkit.Expect(t, env.Get("/api/v1/me/orders?q=beta", b.ReferentToken), http.StatusOK).Map(t)
	if item := list["items"].([]any)[0].(map[string]any); item["contract_name"] != "Beta" || item["contract_offer"] != "Flexible Engine" || item["contract_id"] != b.ID {
		t.Errorf("my orders carry the contract's columns: %v", item)
	}
	// Pagination: one per page, then the next page, then the end.
	page := testkit.Expect(t, env.Get("/api/v1/me/orders?limit=1&sort=-ref", a.ReferentToken), http.StatusOK).Map(t)
	next, _ := page["next_cursor"].(string)
	if len(page["items"].([]any)) != 1 || next == "" {
		t.Fatalf("first page = %v", page)
	}
	page2 := testkit.Expect(t, env.Get("/api/v1/me/orders?limit=1&sort=-ref&cursor="+next, a.ReferentToken), http.StatusOK).Map(t)
	if len(page2["items"].([]any)) != 1 || page2["next_cursor"] != nil ||
		page2["items"].([]any)[0].(map[string]any)["ref"] == page["items"].([]any)[0].(map[string]any)["ref"] {
		t.Errorf("second page = %v", page2)
	}
	testkit.Expect(t, env.Get("/api/v1/me/orders?sort=colour", a.ReferentToken), http.StatusBadRequest)
	testkit.Expect(t, env.Get("/api/v1/me/orders?status=lost", a.ReferentToken), http.StatusBadRequest)
}

// TestPlacedOrderIsAnsweredAsTheReadModelShowsIt: the answer to a placed
// order is built from its event, without waiting for the read model; it
// must be exactly what the read model then shows, with the real clock's
// sub-second instants, for a reservation and a one-off with a contact.
// The answer carries the write's position, which the next read waits for.
func TestPlacedOrderIsAnsweredAsTheReadModelShowsIt(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("SL_Prod")
	for _, body := range []map[string]any{
		reservation("c2.xlarge", 36, true),
		{"service_code": "PS104", "contact": map[string]any{"name": "Paul Dupont", "email": "paul@example.com", "phone": "+33 1 23 45 67 89"}},
	} {
		placed := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, body), http.StatusCreated)
		if placed.Header.Get("X-Selfcare-Position") == "" {
			t.Errorf("the answer to a placed order has no X-Selfcare-Position")
		}
		ref := placed.Map(t)["ref"].(string)
		read := testkit.Expect(t, env.Get(ordersPath(c.ID)+"/"+ref, c.ReferentToken), http.StatusOK)
		if string(placed.Body) != string(read.Body) {
			t.Errorf("placing answered\n%s\nthe read model shows\n%s", placed.Body, read.Body)
		}
	}
}

// TestListedOrdersAreTheOrdersAsReadOneByOne: a list serves each order
// from the document its placing rendered in the read model plus its state
// columns; every item must be byte for byte the order as GET shows it, in
// progress, completed (with its subscription) or rejected, in the
// contract's list and in "my orders" (with the contract's columns).
func TestListedOrdersAreTheOrdersAsReadOneByOne(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.WithClock(clock.NewManual(t0)))
	c := env.NewContract("Acme & <Sons>")
	place := func(body map[string]any) string {
		return testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, body), http.StatusCreated).Map(t)["ref"].(string)
	}
	completed := place(reservation("c2.large", 12, false))
	rejected := place(map[string]any{"service_code": "PS104", "contact": map[string]any{"name": "Zoé \"Z\" <Martin>", "email": "zoe@example.com"}})
	pending := place(reservation("s3.medium", 36, true))
	testkit.Expect(t, env.Post("/api/v1/admin/orders/"+completed+"/complete", testkit.AdminToken, nil), http.StatusOK)
	testkit.Expect(t, env.Post("/api/v1/admin/orders/"+rejected+"/reject", testkit.AdminToken, map[string]any{"reason": "no <expert> & no slot"}), http.StatusOK)

	items := func(path string) map[string]json.RawMessage {
		var page struct{ Items []json.RawMessage }
		if err := json.Unmarshal(testkit.Expect(t, env.Get(path, c.ReferentToken), http.StatusOK).Body, &page); err != nil {
			t.Fatal(err)
		}
		byRef := map[string]json.RawMessage{}
		for _, it := range page.Items {
			var o struct{ Ref string }
			if err := json.Unmarshal(it, &o); err != nil {
				t.Fatal(err)
			}
			byRef[o.Ref] = it
		}
		return byRef
	}
	listed, mine := items(ordersPath(c.ID)), items("/api/v1/me/orders")
	for _, ref := range []string{completed, rejected, pending} {
		one := strings.TrimSpace(string(testkit.Expect(t, env.Get(ordersPath(c.ID)+"/"+ref, c.ReferentToken), http.StatusOK).Body))
		if got := string(listed[ref]); got != one {
			t.Errorf("order %s listed as\n%s\nread alone as\n%s", ref, got, one)
		}
		// "my orders" adds the contract's columns before the closing brace.
		want := strings.TrimSuffix(one, "}") + `,"contract_name":"Acme \u0026 \u003cSons\u003e","contract_offer":"Flexible Engine"}`
		if got := string(mine[ref]); got != want {
			t.Errorf("order %s in my orders\n%s\nwant\n%s", ref, got, want)
		}
	}
	var done map[string]any
	if err := json.Unmarshal(listed[completed], &done); err != nil || done["subscription_ref"] != completed || done["status"] != "completed" {
		t.Errorf("the completed reservation listed: %v (%v)", done, err)
	}
}

// TestContractReadsAreSentWithTheSessionInOneRoundTrip: for the endpoints
// registered with HandleRead, the authorizer sends the handler's query
// with the session check (one connection taken from the pool per request,
// not two), hands the rows over only to an allowed caller, and frees the
// connection whatever the outcome: more refused calls than the pool has
// connections leave it serving.
func TestContractReadsAreSentWithTheSessionInOneRoundTrip(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("SL_Prod")
	other := env.NewContract("Other")
	visitor := env.AddSignedInUser(c, "visitor.", map[string]string{"orders": "none", "users": "none"})
	ref := testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{"service_code": "PS104"}), http.StatusCreated).Map(t)["ref"].(string)
	page := ordersPath(c.ID) + "?limit=5"
	reads := []string{page, ordersPath(c.ID) + "/" + ref, "/api/v1/contracts/" + c.ID + "/users?sort=login",
		"/api/v1/contracts/" + c.ID + "/console-users"}
	testkit.Expect(t, env.Get(page, c.ReferentToken), http.StatusOK) // the read models caught up

	// Against a read of the contract, which the authorizer does not send
	// with the session (two round trips). Background work (projectors,
	// the outbox) takes connections too, and only ever adds some: each
	// request is counted alone, and the fewest it took is what it needs.
	const calls = 20
	fewest := func(path string) int64 {
		least := int64(math.MaxInt64)
		for range calls {
			before := env.Pool.Stat().AcquireCount()
			testkit.Expect(t, env.Get(path, c.ReferentToken), http.StatusOK)
			least = min(least, env.Pool.Stat().AcquireCount()-before)
		}
		return least
	}
	if n := fewest("/api/v1/contracts/" + c.ID); n != 2 {
		t.Fatalf("a read of the contract took at least %d connections from the pool, want 2 (the session, then the contract)", n)
	}
	for _, read := range reads {
		if n := fewest(read); n != 1 {
			t.Errorf("GET %s took at least %d connections from the pool, want 1", read, n)
		}
	}

	pool := int(env.Pool.Config().MaxConns)
	for range pool + 2 {
		for _, read := range reads {
			testkit.Expect(t, env.Get(read, other.ReferentToken), http.StatusNotFound)
			testkit.Expect(t, env.Get(read, visitor.Token), http.StatusForbidden)
			testkit.Expect(t, env.Get(read, "not-a-session"), http.StatusUnauthorized)
		}
		testkit.Expect(t, env.Get(ordersPath(c.ID)+"/"+c.ID+"-2611-999", c.ReferentToken), http.StatusNotFound)
		testkit.Expect(t, env.Get(ordersPath(c.ID)+"?sort=colour", c.ReferentToken), http.StatusBadRequest)
		testkit.Expect(t, env.Get(ordersPath(c.ID)+"?cursor=bm90LWEtY3Vyc29y", c.ReferentToken), http.StatusBadRequest)
	}
	items := testkit.Expect(t, env.Get(page, c.ReferentToken), http.StatusOK).Map(t)["items"].([]any)
	if len(items) != 1 || items[0].(map[string]any)["ref"] != ref {
		t.Errorf("after the refusals, the page shows %v, want order %v", items, ref)
	}
}

// TestAPendingIdempotencyKeyIsALeaseTakenOverAfterACrash: a server killed
// while placing an order leaves its key pending, with nothing applied; a
// retry once the short lease ran out places the order, once.
func TestAPendingIdempotencyKeyIsALeaseTakenOverAfterACrash(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0)
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("Crashy")
	body := reservation("c2.xlarge", 12, false)
	place := func() *testkit.Response {
		return env.Do(testkit.Request{Method: http.MethodPost, Path: ordersPath(c.ID), Token: c.ReferentToken,
			Body: body, Header: map[string]string{"Idempotency-Key": "before-the-crash"}})
	}
	// What the killed server left: the key claimed, by a holder now gone,
	// for this very request (same method, path and body), and no order.
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", http.MethodPost, ordersPath(c.ID))
	h.Write(raw)
	if _, err := env.Server.Pool.Exec(context.Background(), `
INSERT INTO idempotency_keys (principal, key, method, path, request_hash, state, created_at, claim)
VALUES ($1, 'before-the-crash', 'POST', $2, $3, 'pending', $4, gen_random_uuid())`,
		"user:"+strings.ToLower(c.ReferentLogin), ordersPath(c.ID), h.Sum(nil), clk.Now()); err != nil {
		t.Fatal(err)
	}
	// Within the lease, the retry is told the request is in flight.
	testkit.Expect(t, place(), http.StatusConflict)
	clk.Advance(31 * time.Second)
	first := testkit.Expect(t, place(), http.StatusCreated)
	again := testkit.Expect(t, place(), http.StatusCreated)
	if again.Header.Get("Idempotent-Replayed") != "true" || again.Map(t)["ref"] != first.Map(t)["ref"] {
		t.Errorf("the second retry was not the first response replayed: %s vs %s", again, first)
	}
	if n := env.CountEvents("OrderPlaced"); n != 1 {
		t.Fatalf("%d orders placed, want 1", n)
	}
}

// TestOrderParametersAreTypedAsOpenAPISays: openapi.json types
// duration_months as an integer and upfront as a boolean; their spelling as
// JSON strings ("12", "false") is refused field by field, and nothing is
// written, where it used to be accepted as the same order.
func TestOrderParametersAreTypedAsOpenAPISays(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Typed")
	before := env.RequestEventCount()
	r := env.Post(ordersPath(c.ID), c.ReferentToken, map[string]any{"service_code": "AD135",
		"parameters": map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": "12", "upfront": "false"}})
	testkit.Expect(t, r, http.StatusBadRequest)
	codes := r.FieldCodes(t)
	if codes["parameters.duration_months"] != "invalid" || codes["parameters.upfront"] != "invalid" || len(codes) != 2 {
		t.Fatalf("errors = %v, want parameters.duration_months and parameters.upfront invalid, only", codes)
	}
	if after := env.RequestEventCount(); after != before {
		t.Fatalf("a refused order appended %d events", after-before)
	}
	testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, reservation("c2.large", 12, false)), http.StatusCreated)
}
