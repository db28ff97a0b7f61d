package handlers_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"selfcare/commands"
	"selfcare/internal/clock"
	"selfcare/internal/config"
	"selfcare/internal/testkit"
	"selfcare/projections/subscriptions"
)

func subscriptionsPath(cid string) string { return "/api/v1/contracts/" + cid + "/subscriptions" }

func complete(t *testing.T, env *testkit.Env, ref string) {
	t.Helper()
	testkit.Expect(t, env.Post("/api/v1/admin/orders/"+ref+"/complete", testkit.AdminToken, nil), http.StatusOK)
}

func placeRef(t *testing.T, env *testkit.Env, c testkit.Contract, body any) string {
	t.Helper()
	return testkit.Expect(t, env.Post(ordersPath(c.ID), c.ReferentToken, body), http.StatusCreated).Map(t)["ref"].(string)
}

func items(t *testing.T, r *testkit.Response) []map[string]any {
	t.Helper()
	var list struct {
		Items []map[string]any `json:"items"`
	}
	r.JSON(t, &list)
	return list.Items
}

func TestASubscriptionAppearsOnceItsOrderIsCompletedWithItsDatesAndStatuses(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0) // 2026-11-24
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("SL_Prod")
	visitor := env.DeclareMember(c.ID, map[string]string{"subscriptions": "visitor"})
	outsider := env.DeclareMember(c.ID, map[string]string{"subscriptions": "none"})
	ref := placeRef(t, env, c, reservation("c2.large", 24, true))
	oneOff := placeRef(t, env, c, map[string]any{"service_code": "PS104"})

	if got := items(t, testkit.Expect(t, env.Get(subscriptionsPath(c.ID), c.ReferentToken), http.StatusOK)); len(got) != 0 {
		t.Fatalf("a subscription shows before its order is completed: %v", got)
	}
	if got := items(t, testkit.Expect(t, env.Get("/api/v1/me/subscriptions", c.ReferentToken), http.StatusOK)); len(got) != 0 {
		t.Fatalf("my subscriptions show one not validated: %v", got)
	}
	testkit.Expect(t, env.Get(subscriptionsPath(c.ID)+"/"+ref, c.ReferentToken), http.StatusNotFound)
	complete(t, env, ref)
	complete(t, env, oneOff) // no subscription for a one-off order

	list := items(t, testkit.Expect(t, env.Get(subscriptionsPath(c.ID), visitor.Token), http.StatusOK))
	if len(list) != 1 {
		t.Fatalf("subscriptions = %v, want the reservation's only", list)
	}
	s := list[0]
	want := map[string]any{
		"ref": ref, "order_ref": ref, "name": "Reservation c2.large 2 years with upfront",
		"type": "Elastic Cloud Server flavor reservation", "subscribed_at": "2026-11-24T10:15:00Z",
		"start_date": "2026-12-01", "end_date": "2028-11-30", "duration_months": float64(24),
		"region": "eu-west-0", "status": "subscribed", "as_of": "2026-11-24",
		"order_url": ordersPath(c.ID) + "/" + ref,
	}
	for k, v := range want {
		if s[k] != v {
			t.Errorf("%s = %v, want %v", k, s[k], v)
		}
	}
	if amount(t, s["monthly_price"]) != "24.39" || amount(t, s["initial_payment"]) != "513.02" {
		t.Errorf("prices = %v + %v/month", s["initial_payment"], s["monthly_price"])
	}
	testkit.Expect(t, env.Get(subscriptionsPath(c.ID), outsider.Token), http.StatusForbidden)

	// The status on any day, on every boundary.
	for asOf, status := range map[string]string{
		"2026-11-30": "subscribed", "2026-12-01": "in_progress", "2027-06-15": "in_progress",
		"2028-11-30": "in_progress", "2028-12-01": "terminated", "2031-01-01": "terminated",
	} {
		got := testkit.Expect(t, env.Get(subscriptionsPath(c.ID)+"/"+ref+"?as_of="+asOf, visitor.Token), http.StatusOK).Map(t)
		if got["status"] != status || got["as_of"] != asOf {
			t.Errorf("as of %s: %v (as_of %v), want %s", asOf, got["status"], got["as_of"], status)
		}
		for _, filter := range []string{"subscribed", "in_progress", "terminated"} {
			n := len(items(t, testkit.Expect(t, env.Get(subscriptionsPath(c.ID)+"?as_of="+asOf+"&status="+filter, visitor.Token), http.StatusOK)))
			if wantN := map[bool]int{true: 1, false: 0}[filter == status]; n != wantN {
				t.Errorf("as of %s, ?status=%s lists %d, want %d", asOf, filter, n, wantN)
			}
		}
	}
	// Without as_of, "today" is the server's clock.
	clk.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC))
	// (Sessions expire by the same clock.)
	visitor.Token = env.SignIn(visitor.Login, testkit.Password)
	outsider.Token = env.SignIn(outsider.Login, testkit.Password)
	c.ReferentToken = env.SignIn(c.ReferentLogin, testkit.Password)
	if got := testkit.Expect(t, env.Get(subscriptionsPath(c.ID)+"/"+ref, visitor.Token), http.StatusOK).Map(t); got["status"] != "in_progress" || got["as_of"] != "2026-12-01" {
		t.Errorf("on the start day: %v as of %v", got["status"], got["as_of"])
	}
	mine := items(t, testkit.Expect(t, env.Get("/api/v1/me/subscriptions", c.ReferentToken), http.StatusOK))
	if len(mine) != 1 || mine[0]["ref"] != ref || mine[0]["contract_name"] != "SL_Prod" {
		t.Errorf("my subscriptions = %v", mine)
	}
	if got := items(t, testkit.Expect(t, env.Get("/api/v1/me/subscriptions?q=c2.large&sort=-end_date", visitor.Token), http.StatusOK)); len(got) != 1 {
		t.Errorf("a subscriptions visitor's own list = %v", got)
	}
	if got := items(t, testkit.Expect(t, env.Get("/api/v1/me/subscriptions", outsider.Token), http.StatusOK)); len(got) != 0 {
		t.Errorf("a member without the subscriptions section sees %v", got)
	}
	if got := items(t, testkit.Expect(t, env.Get(subscriptionsPath(c.ID)+"?q=01/12/2026&sort=status", visitor.Token), http.StatusOK)); len(got) != 1 {
		t.Errorf("search by a start date as French users type it: %v", got)
	}
	for _, bad := range []string{"?as_of=2026-13-01", "?as_of=yesterday", "?status=paused", "?sort=colour", "?limit=0"} {
		testkit.Expect(t, env.Get(subscriptionsPath(c.ID)+bad, visitor.Token), http.StatusBadRequest)
	}
}

// TestLifecycleEventsHappenOnceAcrossServersRestartsAndDowntime runs two
// server processes on one database, restarts one, then stops them all
// across both dates and starts a fresh one.
func TestLifecycleEventsHappenOnceAcrossServersRestartsAndDowntime(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0) // 2026-11-24
	fast := testkit.WithConfig(func(c *config.Config) { c.SchedulerInterval = 10 * time.Millisecond })
	a := testkit.New(t, testkit.WithClock(clk), fast)
	b := a.StartAnother(testkit.WithClock(clk), fast)
	c := a.NewContract("Honey")

	const n = 4
	var year, twoYears []string
	for i := range n {
		year = append(year, placeRef(t, a, c, reservation("c2.large", 12, false)))
		twoYears = append(twoYears, placeRef(t, b, c, reservation("c2.xlarge", 24, i%2 == 0)))
	}
	for i := range n {
		complete(t, a, year[i])
		complete(t, b, twoYears[i])
	}
	counts := func() (started, ended int) {
		return a.CountEvents("SubscriptionStarted"), a.CountEvents("SubscriptionEnded")
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				s, e := counts()
				t.Fatalf("%s: never happened (%d started, %d ended)", what, s, e)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	settle := func() { time.Sleep(150 * time.Millisecond) } // many ticks of both servers

	settle()
	if s, e := counts(); s != 0 || e != 0 {
		t.Fatalf("before the start date: %d started, %d ended", s, e)
	}

	// Both servers see the start day come.
	clk.Set(time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC))
	waitFor("every subscription started", func() bool { s, _ := counts(); return s >= 2*n })
	settle()
	if s, e := counts(); s != 2*n || e != 0 {
		t.Fatalf("on the start day: %d started, %d ended; want %d, 0", s, e, 2*n)
	}

	// A restart records nothing again.
	b.Stop()
	b2 := a.StartAnother(testkit.WithClock(clk), fast)
	settle()
	if s, e := counts(); s != 2*n || e != 0 {
		t.Fatalf("after a restart: %d started, %d ended", s, e)
	}

	// Every server down while the one-year subscriptions end; a
	// subscription completed meanwhile (its order placed in December) is
	// caught up from start to end by the next server.
	c.ReferentToken = a.SignIn(c.ReferentLogin, testkit.Password)   // sessions expire by the clock too
	late := placeRef(t, a, c, reservation("c2.2xlarge", 12, false)) // starts 2027-01-01
	complete(t, a, late)
	a.Stop()
	b2.Stop()
	clk.Set(time.Date(2028, 1, 15, 9, 0, 0, 0, time.UTC))
	d := a.StartAnother(testkit.WithClock(clk), fast)
	waitFor("the one-year subscriptions ended", func() bool { _, e := counts(); return e >= n+1 })
	settle()
	if s, e := counts(); s != 2*n+1 || e != n+1 {
		t.Fatalf("after downtime: %d started, %d ended; want %d, %d", s, e, 2*n+1, n+1)
	}
	// In each stream, once each and in order; the events are the
	// scheduler's.
	rows, err := a.Pool.Query(context.Background(), `
SELECT stream_id, string_agg(event_type, ',' ORDER BY stream_version), bool_and(metadata->>'actor' = 'system:scheduler' OR event_type = 'SubscriptionCreated')
FROM events WHERE stream_id LIKE 'subscription-%' GROUP BY stream_id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	streams := 0
	for rows.Next() {
		var stream, types string
		var bySystem bool
		if err := rows.Scan(&stream, &types, &bySystem); err != nil {
			t.Fatal(err)
		}
		streams++
		want := "SubscriptionCreated,SubscriptionStarted"
		for _, ref := range append(year, late) {
			if stream == "subscription-"+ref {
				want += ",SubscriptionEnded"
			}
		}
		if types != want || !bySystem {
			t.Errorf("%s: %s (by the scheduler: %t), want %s", stream, types, bySystem, want)
		}
	}
	if streams != 2*n+1 {
		t.Errorf("%d subscription streams, want %d", streams, 2*n+1)
	}
	// The read model records the lifecycle too, once it has caught up with
	// the scheduler's events (counted above in the event store).
	c.ReferentToken = d.SignIn(c.ReferentLogin, testkit.Password)
	var got map[string]any
	waitFor("the read model shows the late subscription's lifecycle", func() bool {
		got = testkit.Expect(t, d.Get(subscriptionsPath(c.ID)+"/"+late, c.ReferentToken), http.StatusOK).Map(t)
		return got["started_at"] != nil && got["ended_at"] != nil
	})
	if got["status"] != "terminated" {
		t.Errorf("the late subscription reads %v", got)
	}
}

// TestATickCatchesUpEveryDueSubscriptionInBatches drives the scheduler's
// tick directly, with batches smaller than the work due.
func TestATickCatchesUpEveryDueSubscriptionInBatches(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(t0)
	env := testkit.New(t, testkit.WithClock(clk)) // its own scheduler ticks at start, then every 30 s
	c := env.NewContract("Batch")
	const n = 5
	for range n {
		complete(t, env, placeRef(t, env, c, reservation("c2.large", 12, false)))
	}
	tick := &commands.Lifecycle{App: env.Server.App, Due: subscriptions.Queries{Pool: env.Pool}, Batch: 2}
	if got, err := tick.Tick(context.Background()); err != nil || got != 0 {
		t.Fatalf("nothing is due yet: %d events, %v", got, err)
	}
	clk.Set(time.Date(2027, 12, 2, 0, 0, 0, 0, time.UTC)) // past both dates
	got, err := tick.Tick(context.Background())
	if err != nil || got != 2*n {
		t.Fatalf("the catch-up tick recorded %d events (%v), want %d", got, err, 2*n)
	}
	if again, err := tick.Tick(context.Background()); err != nil || again != 0 {
		t.Fatalf("a second tick recorded %d events (%v), want none", again, err)
	}
	if s, e := env.CountEvents("SubscriptionStarted"), env.CountEvents("SubscriptionEnded"); s != n || e != n {
		t.Fatalf("%d started, %d ended; want %d each", s, e, n)
	}
}
