package bench

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/commands"
	"selfcare/domain/membership"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
)

// The whole -scale run on a small history (10,000 events) (one seeding for every check):
// about the events asked for, the big contract and the long membership of
// the scaled sizes, streams the domain reads, a server whose read models
// list every order of the big contract and that takes commands on the
// long streams, and a table with every figure.
func TestScaleSeedsAHistoryAndMeasuresIt(t *testing.T) {
	t.Parallel()
	pool := testdb.NewWithConns(t, 40)
	env := NewEnv(pool, 300*time.Millisecond, slog.New(slog.DiscardHandler))
	const n = 10_000
	s := &scaleRun{events: n}
	defer s.close()
	// Seeded and served, before the measurements add their own.
	if err := s.ready(t.Context(), env); err != nil {
		t.Fatal(err)
	}
	t.Run("seeded", func(t *testing.T) { checkSeeded(t, pool, s.seeded, n) })

	var out bytes.Buffer
	results, err := Run(t.Context(), env, s.measurements(), &out)
	if err != nil {
		t.Fatal(err)
	}
	table := out.String()
	t.Log("\n" + table)
	t.Run("served", func(t *testing.T) { checkServed(t, s, pool) })

	names := []string{"seed 10000 events", "server's first start", "place an order, contract of 100 orders, p50", "place an order, contract of 100 orders, p99",
		"change roles, membership of 10 changes, p50", "change roles, membership of 10 changes, p99", "orders over HTTP, 8 clients",
		"GET users", "GET orders", "GET subscriptions", "GET invoices", "GET role changes", "GET roles as_of",
		"rebuild orders", "rebuild every read model", "audit verify", "process memory, peak (VmHWM)", "process memory, now (VmRSS)", "bytes per stored event", "targets met"}
	for _, name := range names {
		if !strings.Contains(table, name) {
			t.Errorf("the table does not show %q", name)
		}
	}
	rebuilds := 0
	for _, r := range results {
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("%s: value %v", r.Name, r.Value)
		}
		if (strings.HasPrefix(r.Name, "place") || strings.HasPrefix(r.Name, "change") || strings.HasPrefix(r.Name, "GET") || strings.HasPrefix(r.Name, "orders")) && !(r.Baseline > 0) {
			t.Errorf("%s: no baseline", r.Name)
		}
		if strings.HasPrefix(r.Name, "rebuild ") && r.Name != "rebuild every read model" {
			rebuilds++
			if !(r.Baseline > 0) && r.Name != "rebuild credentials" { // console accounts are not seeded
				t.Errorf("%s: no baseline", r.Name)
			}
		}
	}
	if want := 7; rebuilds < want-1 {
		t.Errorf("%d read models rebuilt, want about %d", rebuilds, want)
	}
}

func checkSeeded(t *testing.T, pool *pgxpool.Pool, s Seeded, n int) {
	if s.Events < int64(n) || s.Events > int64(n+n/10) {
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
	// Every new identity got its access link, from the server's reaction
	// to its addition, and the server's consumer groups start after the
	// seeded history (no reaction, no mail run twice).
	// The bench's own fresh customers, made while it measured, get theirs
	// from the running server a moment later: wait for them.
	var identities, links int
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		identities = count(`SELECT count(DISTINCT stream_id) FROM events WHERE stream_id LIKE 'identity-%'`)
		links = count(`SELECT count(*) FROM events WHERE event_type = 'PasswordResetRequested' AND metadata->>'actor' = 'system:reactions' AND metadata->>'causation_id' <> ''`)
		if links >= identities || time.Now().After(deadline) {
			break
		}
	}
	if links < identities {
		rows, _ := pool.Query(t.Context(), `SELECT stream_id, string_agg(event_type || ' by ' || coalesce(metadata->>'actor', ''), ', ' ORDER BY stream_version)
FROM events WHERE stream_id LIKE 'identity-%' GROUP BY stream_id
HAVING NOT bool_or(event_type = 'PasswordResetRequested' AND metadata->>'actor' = 'system:reactions') LIMIT 5`)
		without, _ := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
			var stream, events string
			err := r.Scan(&stream, &events)
			return stream + ": " + events, err
		})
		t.Errorf("%d access links for %d identities; without one: %v", links, identities, without)
	}
	if stale := count(`SELECT count(*) FROM bus_offsets WHERE offset_acked < (SELECT max(position) FROM events WHERE metadata->>'actor' <> 'system:reactions' AND event_type = 'ContractCreated')`); stale != 0 {
		t.Errorf("%d consumer groups would react to the seeded history again", stale)
	}
	if count(`SELECT count(*) FROM bus_offsets WHERE consumer_group <> ALL($1)`, reactedGroups) != 0 {
		t.Errorf("the server runs consumer groups besides %v: their offsets are not moved past the seeded history", reactedGroups)
	}
	for _, typ := range []string{"ContractCreated", "UserAddedToContract", "RolesChanged", "OrderPlaced", "OrderCompleted", "OrderRejected", "SubscriptionCreated",
		"SubscriptionStarted", "SubscriptionEnded", "UsageReported", "InvoiceIssued", "PasswordResetRequested", "PasswordSet"} {
		if count(`SELECT count(*) FROM events WHERE event_type = $1`, typ) < 5 {
			t.Errorf("hardly any %s seeded", typ)
		}
	}
	if s.Contracts < 50 {
		t.Errorf("%d contracts", s.Contracts)
	}
	// Every stream is gap-free from version 1, every event decodes through
	// the registry and says who did it.
	if gaps := count(`SELECT count(*) FROM (SELECT stream_id FROM events GROUP BY stream_id HAVING max(stream_version) <> count(*)) g`); gaps != 0 {
		t.Errorf("%d streams with gaps", gaps)
	}
	app := &commands.App{Store: eventstore.New(pool, clock.Real{}), Registry: registry.All(), Clock: clock.Real{}}
	recs, _, err := app.Store.ReadAll(t.Context(), pool, 0, eventstore.ReadOptions{Limit: n * 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range recs {
		if _, err := app.Decode(rec); err != nil {
			t.Fatal(err)
		}
		if rec.Metadata.ActorKind == "" {
			t.Fatalf("event %d (%s) says no actor", rec.Position, rec.Type)
		}
	}
}

func checkServed(t *testing.T, s *scaleRun, pool *pgxpool.Pool) {
	ctx := t.Context()
	head, err := s.srv.Store.Head(ctx)
	if err == nil {
		err = s.srv.Runner.WaitForAll(ctx, head)
	}
	if err != nil {
		t.Fatal(err)
	}
	var placed int
	if err := pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE stream_id = $1 AND event_type = 'OrderPlaced'`, order.Stream(s.seeded.BigContract)).Scan(&placed); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.hs.URL+"/api/v1/contracts/"+s.seeded.BigContract+"/orders?limit=500", nil)
	req.Header.Set("Authorization", "Bearer "+s.token)
	listed := 0
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
		listed += len(page.Items)
		if page.NextCursor == nil {
			break
		}
		q := req.URL.Query()
		q.Set("cursor", *page.NextCursor)
		req.URL.RawQuery = q.Encode()
	}
	if listed != placed || placed <= s.seeded.BigOrders {
		t.Errorf("the orders page lists %d orders, %d placed (%d seeded, then the bench's)", listed, placed, s.seeded.BigOrders)
	}
	if err := s.expect(ctx, http.MethodPut, "/api/v1/contracts/"+s.seeded.BigContract+"/users/"+s.seeded.LongMember+"/roles", s.token,
		[]byte(`{"profiles":{"invoices":"visitor"}}`), http.StatusOK); err != nil {
		t.Error(err)
	}
}
