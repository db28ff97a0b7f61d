package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"selfcare/commands"
	"selfcare/domain/membership"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
)

// A small history seeded through the domain: about the events asked for,
// a big contract and a long membership of the scaled sizes, and every
// stream folds through the command side's aggregates.
func TestSeedWritesAHistoryTheDomainReads(t *testing.T) {
	t.Parallel()
	pool := testdb.NewWithConns(t, 20)
	env := NewEnv(pool, time.Second, slog.New(slog.DiscardHandler))
	const n = 20_000
	s, err := Seed(t.Context(), env, SeedConfig{Events: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%+v", s)
	if s.Events < n || s.Events > n+n/10 {
		t.Errorf("%d events seeded, want %d to %d", s.Events, n, n+n/10)
	}
	if s.BigOrders != bigOrders(n) || s.RoleChanges != roleChanges(n) || bigOrders(1_000_000) < 10_000 || roleChanges(1_000_000) < 1_000 {
		t.Errorf("sizes %d orders, %d role changes for %d events", s.BigOrders, s.RoleChanges, n)
	}
	count := func(sql string, args ...any) int {
		var c int
		if err := pool.QueryRow(t.Context(), sql, args...).Scan(&c); err != nil {
			t.Fatal(err)
		}
		return c
	}
	if got := count(`SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'OrderPlaced'`, order.Stream(s.BigContract)); got != s.BigOrders {
		t.Errorf("the big contract has %d orders, want %d", got, s.BigOrders)
	}
	if got := count(`SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'RolesChanged'`, membership.Stream(s.BigContract, s.LongMember)); got != s.RoleChanges {
		t.Errorf("the long membership has %d role changes, want %d", got, s.RoleChanges)
	}
	for _, typ := range []string{"ContractCreated", "UserAddedToContract", "OrderCompleted", "OrderRejected", "SubscriptionCreated",
		"SubscriptionStarted", "SubscriptionEnded", "UsageReported", "InvoiceIssued", "PasswordResetRequested", "PasswordSet"} {
		if count(`SELECT count(*) FROM events WHERE event_type = $1`, typ) == 0 {
			t.Errorf("no %s seeded", typ)
		}
	}
	if s.Contracts < 50 || count(`SELECT count(*) FROM events WHERE event_type = 'ContractCreated'`) != s.Contracts {
		t.Errorf("%d contracts", s.Contracts)
	}
	// Every stream is gap-free from version 1 and folds through the
	// registry's decoders.
	if gaps := count(`SELECT count(*) FROM (SELECT stream_id FROM events GROUP BY stream_id HAVING max(stream_version) <> count(*)) g`); gaps != 0 {
		t.Errorf("%d streams with gaps", gaps)
	}
	app := &commands.App{Store: eventstore.New(pool, clock.Real{}), Registry: registry.All(), Clock: clock.Real{}, Logger: env.Logger}
	recs, _, err := app.Store.ReadAll(t.Context(), pool, 0, eventstore.ReadOptions{Limit: n * 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if _, err := app.Decode(rec); err != nil {
			t.Fatal(err)
		}
		if rec.Metadata.ActorKind == "" && rec.Metadata.Actor == "" {
			t.Fatalf("event %d (%s) has no actor", rec.Position, rec.Type)
		}
	}
}

// The whole -scale run on a small history: every figure is measured and
// printed, the server's read models list the big contract's orders, and
// commands succeed on the long streams.
func TestScaleMeasurementsRun(t *testing.T) {
	t.Parallel()
	pool := testdb.NewWithConns(t, 40)
	env := NewEnv(pool, 600*time.Millisecond, slog.New(slog.DiscardHandler))
	measurements, closeRun := Scale(20_000)
	defer closeRun()
	var out bytes.Buffer
	results, err := Run(t.Context(), env, measurements, &out)
	if err != nil {
		t.Fatal(err)
	}
	table := out.String()
	t.Log("\n" + table)
	names := []string{"seed 20000 events", "server's first start", "place an order, contract of 200 orders, p50", "place an order, contract of 200 orders, p99",
		"change roles, membership of 20 changes, p50", "change roles, membership of 20 changes, p99", "orders over HTTP, 8 clients",
		"GET users", "GET orders", "GET subscriptions", "GET invoices", "GET role changes", "GET roles as_of",
		"rebuild every read model", "process memory, peak (VmHWM)", "process memory, now (VmRSS)", "bytes per stored event"}
	for _, name := range names {
		if !strings.Contains(table, name) {
			t.Errorf("the table does not show %q", name)
		}
	}
	rebuilds := 0
	for _, r := range results {
		if math.IsNaN(r.Value) && strings.HasPrefix(r.Name, "rebuild ") && strings.Contains(r.Note, "no events of its types") {
			continue // console accounts are not seeded
		}
		if !(r.Value > 0) || math.IsInf(r.Value, 0) || math.IsNaN(r.Value) {
			t.Errorf("%s: value %v", r.Name, r.Value)
		}
		if (strings.HasPrefix(r.Name, "place") || strings.HasPrefix(r.Name, "change") || strings.HasPrefix(r.Name, "GET")) && !(r.Baseline > 0) {
			t.Errorf("%s: no baseline", r.Name)
		}
		if strings.HasPrefix(r.Name, "rebuild ") && r.Name != "rebuild every read model" {
			rebuilds++
		}
	}
	if rebuilds == 0 {
		t.Error("no read model rebuilt")
	}
	if !strings.Contains(table, "targets met") {
		t.Error("no verdict")
	}
}

// The big contract's orders page of a seeded history counts every order
// placed, and the long streams take commands.
func TestSeededHistoryServes(t *testing.T) {
	t.Parallel()
	pool := testdb.NewWithConns(t, 40)
	env := NewEnv(pool, 300*time.Millisecond, slog.New(slog.DiscardHandler))
	s := &scaleRun{events: 5_000}
	if err := s.ready(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	defer s.close()
	var placed int
	if err := pool.QueryRow(t.Context(), `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'OrderPlaced'`, order.Stream(s.seeded.BigContract)).Scan(&placed); err != nil {
		t.Fatal(err)
	}
	total := func() int {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, s.hs.URL+"/api/v1/contracts/"+s.seeded.BigContract+"/orders?limit=500", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		n := 0
		for {
			resp, err := s.client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var page struct {
				Items      []json.RawMessage `json:"items"`
				NextCursor *string           `json:"next_cursor"`
			}
			err = json.NewDecoder(resp.Body).Decode(&page)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("orders page: status %d, %v", resp.StatusCode, err)
			}
			n += len(page.Items)
			if page.NextCursor == nil {
				return n
			}
			q := req.URL.Query()
			q.Set("cursor", *page.NextCursor)
			req.URL.RawQuery = q.Encode()
		}
	}
	if got := total(); got != placed || placed != s.seeded.BigOrders {
		t.Fatalf("the orders page lists %d orders, %d placed, %d seeded", got, placed, s.seeded.BigOrders)
	}
	ctx := context.Background()
	if err := s.expect(ctx, http.MethodPost, "/api/v1/contracts/"+s.seeded.BigContract+"/orders", s.token,
		[]byte(`{"service_code":"PS104"}`), http.StatusCreated); err != nil {
		t.Fatal(err)
	}
	if err := s.expect(ctx, http.MethodPut, "/api/v1/contracts/"+s.seeded.BigContract+"/users/"+s.seeded.LongMember+"/roles", s.token,
		[]byte(`{"profiles":{"invoices":"visitor"}}`), http.StatusOK); err != nil {
		t.Fatal(err)
	}
}
