package eventstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
)

func TestAppendChecksTheExpectedVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)

	res, err := s.Append(ctx, "order-1", eventstore.NoStream, newEvent("OrderPlaced", 1))
	if err != nil {
		t.Fatalf("append to a new stream with NoStream: %v", err)
	}
	if res.Version != 1 || len(res.Positions) != 1 || res.Positions[0] <= 0 {
		t.Fatalf("first append: got %+v, want version 1 and one positive position", res)
	}

	conflict := func(name string, expected eventstore.Expectation, wantActual int64) {
		t.Helper()
		_, err := s.Append(ctx, "order-1", expected, newEvent("OrderPlaced", 2))
		if !errors.Is(err, eventstore.ErrWrongExpectedVersion) {
			t.Fatalf("%s: got %v, want ErrWrongExpectedVersion", name, err)
		}
		var vc *eventstore.VersionConflictError
		if !errors.As(err, &vc) {
			t.Fatalf("%s: got %T, want *VersionConflictError", name, err)
		}
		if vc.Stream != "order-1" || vc.Expected != expected || vc.Actual != wantActual {
			t.Fatalf("%s: got %+v, want stream order-1, expected %d, actual %d", name, vc, expected, wantActual)
		}
	}
	conflict("NoStream on an existing stream", eventstore.NoStream, 1)
	conflict("Exactly a version ahead", eventstore.Exactly(2), 1)

	res2, err := s.Append(ctx, "order-1", eventstore.Exactly(1), newEvents("OrderPaid", 2)...)
	if err != nil {
		t.Fatalf("append with Exactly(1): %v", err)
	}
	if res2.Version != 3 || len(res2.Positions) != 2 || res2.Positions[0] <= res.Positions[0] || res2.Positions[1] <= res2.Positions[0] {
		t.Fatalf("second append: got %+v after %+v, want version 3 and two increasing positions after the first", res2, res)
	}
	conflict("Exactly a stale version", eventstore.Exactly(1), 3)

	res3, err := s.Append(ctx, "order-1", eventstore.Any, newEvent("OrderShipped", 4))
	if err != nil || res3.Version != 4 {
		t.Fatalf("append with Any: got %+v, %v; want version 4", res3, err)
	}
	if res3.LastPosition() != res3.Positions[0] {
		t.Fatalf("LastPosition: got %d, want %d", res3.LastPosition(), res3.Positions[0])
	}
	res4, err := s.Append(ctx, "fresh", eventstore.Any, newEvent("OrderPlaced", 1))
	if err != nil || res4.Version != 1 {
		t.Fatalf("append with Any to a new stream: got %+v, %v; want version 1", res4, err)
	}
	if v, err := s.Version(ctx, "order-1"); err != nil || v != 4 {
		t.Fatalf("Version: got %d, %v; want 4", v, err)
	}
	if v, err := s.Version(ctx, "nobody"); err != nil || v != 0 {
		t.Fatalf("Version of a missing stream: got %d, %v; want 0", v, err)
	}
	if res, err := s.Append(ctx, "order-1", eventstore.Any); err != nil || len(res.Positions) != 0 {
		t.Fatalf("append of no events: got %+v, %v; want nothing, no error", res, err)
	}
}

func TestAppendRefusesInvalidEvents(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	for name, tc := range map[string]struct {
		stream string
		event  eventstore.Event
	}{
		"empty stream": {"", newEvent("X", 1)},
		"no id":        {"s", eventstore.Event{Type: "X"}},
		"no type":      {"s", eventstore.Event{ID: uuid.New()}},
	} {
		if _, err := s.Append(ctx, tc.stream, eventstore.Any, tc.event); err == nil {
			t.Errorf("%s: append succeeded, want an error", name)
		}
	}
	if _, err := s.Load(ctx, "s", 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("a refused append stored something: Load says %v", err)
	}
}

// Concurrent writers expecting the same version: exactly one of them wins
// each version, the others learn the version that beat them.
func TestConcurrentAppendersExactlyOneWinsPerVersion(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const writers, rounds = 16, 15
	s := newStoreWithConns(t, writers)
	var winners []uuid.UUID
	for round := range rounds {
		var wins, conflicts atomic.Int64
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range writers {
			wg.Go(func() {
				e := newEvent("Tick", round)
				<-start
				_, err := s.Append(ctx, "contended", eventstore.Exactly(int64(round)), e)
				var vc *eventstore.VersionConflictError
				switch {
				case err == nil:
					wins.Add(1)
					mu.Lock()
					winners = append(winners, e.ID)
					mu.Unlock()
				case errors.As(err, &vc) && errors.Is(err, eventstore.ErrWrongExpectedVersion):
					conflicts.Add(1)
					if vc.Actual != int64(round)+1 {
						t.Errorf("round %d: conflict reports actual version %d, want %d", round, vc.Actual, round+1)
					}
				default:
					t.Errorf("round %d: %v", round, err)
				}
			})
		}
		close(start)
		wg.Wait()
		if wins.Load() != 1 || conflicts.Load() != writers-1 {
			t.Fatalf("round %d: %d wins and %d conflicts, want 1 and %d", round, wins.Load(), conflicts.Load(), writers-1)
		}
	}
	recs, err := s.Load(ctx, "contended", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != rounds {
		t.Fatalf("stream has %d events, want %d", len(recs), rounds)
	}
	for i, r := range recs {
		if r.Version != int64(i+1) || r.EventID != winners[i] {
			t.Fatalf("event %d: version %d id %s, want version %d id %s (the winner of round %d)", i, r.Version, r.EventID, i+1, winners[i], i)
		}
	}
}

// With Any, concurrent writers on one stream never fail and lose nothing:
// the stream ends with every event, versions 1..N without holes, each
// append's events contiguous and in order.
func TestConcurrentAnyAppendsLoseNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const writers, appends, perAppend = 32, 5, 2
	s := newStoreWithConns(t, writers)
	batches := make(chan []eventstore.Event, writers*appends)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range writers {
		wg.Go(func() {
			<-start
			for range appends {
				events := newEvents("Tick", perAppend)
				res, err := s.Append(ctx, "hot", eventstore.Any, events...)
				if err != nil {
					t.Errorf("append with Any: %v", err)
					return
				}
				if len(res.Positions) != perAppend || res.Version < perAppend {
					t.Errorf("append with Any: got %+v", res)
				}
				batches <- events
			}
		})
	}
	close(start)
	wg.Wait()
	close(batches)
	if t.Failed() {
		return
	}

	recs, err := s.Load(ctx, "hot", 0)
	if err != nil {
		t.Fatal(err)
	}
	const total = writers * appends * perAppend
	if len(recs) != total {
		t.Fatalf("stream has %d events, want %d", len(recs), total)
	}
	byID := map[uuid.UUID]eventstore.Record{}
	for i, r := range recs {
		if r.Version != int64(i+1) {
			t.Fatalf("event %d has version %d: versions are not 1..%d", i, r.Version, total)
		}
		if i > 0 && r.Position <= recs[i-1].Position {
			t.Fatalf("positions do not increase with versions: %d then %d", recs[i-1].Position, r.Position)
		}
		byID[r.EventID] = r
	}
	for events := range batches {
		first, ok := byID[events[0].ID]
		if !ok {
			t.Fatalf("event %s is lost", events[0].ID)
		}
		for i, e := range events {
			if r, ok := byID[e.ID]; !ok || r.Version != first.Version+int64(i) {
				t.Fatalf("the events of one append are not stored contiguously in order: %s at %+v", e.ID, r)
			}
		}
	}
}

// Re-sending an append (a retried command) changes nothing and says where
// the events already are, whatever the expectation.
func TestRetriedAppendIsANoOp(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	events := newEvents("Tick", 3)
	first, err := s.Append(ctx, "retried", eventstore.NoStream, events...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "retried", eventstore.Exactly(3), newEvent("Later", 1)); err != nil {
		t.Fatal(err)
	}
	for _, expected := range []eventstore.Expectation{eventstore.NoStream, eventstore.Any, eventstore.Exactly(3)} {
		again, err := s.Append(ctx, "retried", expected, events...)
		if err != nil {
			t.Fatalf("retry with expectation %d: %v", expected, err)
		}
		if !slices.Equal(again.Positions, first.Positions) || again.Version != first.Version {
			t.Fatalf("retry with expectation %d: got %+v, want %+v", expected, again, first)
		}
	}
	// Inside a transaction too, without aborting it.
	err = s.Transact(ctx, func(tx *eventstore.Tx) error {
		again, err := tx.Append(ctx, "retried", eventstore.NoStream, events...)
		if err != nil {
			return err
		}
		if !slices.Equal(again.Positions, first.Positions) {
			t.Errorf("retry in a transaction: got %+v, want %+v", again, first)
		}
		_, err = tx.Append(ctx, "other", eventstore.NoStream, newEvent("Tick", 1))
		return err
	})
	if err != nil {
		t.Fatalf("transaction with a retried append: %v", err)
	}
	recs, err := s.Load(ctx, "retried", 0)
	if err != nil || len(recs) != 4 {
		t.Fatalf("after retries the stream has %d events (%v), want 4", len(recs), err)
	}
}

func TestPartlyDuplicatedAppendIsRefused(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	stored := newEvents("Tick", 2)
	if _, err := s.Append(ctx, "dup", eventstore.NoStream, stored...); err != nil {
		t.Fatal(err)
	}
	fresh := newEvent("Tick", 3)
	for _, expected := range []eventstore.Expectation{eventstore.Any, eventstore.Exactly(2), eventstore.Exactly(1)} {
		_, err := s.Append(ctx, "dup", expected, stored[1], fresh)
		if !errors.Is(err, eventstore.ErrDuplicateEventID) {
			t.Fatalf("expectation %d: got %v, want ErrDuplicateEventID", expected, err)
		}
	}
	// The same ids in another stream.
	_, err := s.Append(ctx, "elsewhere", eventstore.NoStream, stored...)
	if !errors.Is(err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("ids of another stream: got %v, want ErrDuplicateEventID", err)
	}
	recs, err := s.Load(ctx, "dup", 0)
	if err != nil || len(recs) != 2 {
		t.Fatalf("stream has %d events (%v), want the 2 first ones only", len(recs), err)
	}
	if _, err := s.Load(ctx, "elsewhere", 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("refused append created a stream: %v", err)
	}
}

func TestTransactIsAllOrNothing(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	if _, err := s.Append(ctx, "b", eventstore.NoStream, newEvent("Tick", 1)); err != nil {
		t.Fatal(err)
	}
	changed := s.Changes().C()

	boom := errors.New("boom")
	err := s.Transact(ctx, func(tx *eventstore.Tx) error {
		if _, err := tx.Append(ctx, "a", eventstore.NoStream, newEvent("Tick", 1)); err != nil {
			return err
		}
		if _, err := tx.Append(ctx, "b", eventstore.Exactly(1), newEvent("Tick", 2)); err != nil {
			return err
		}
		if _, err := tx.Pgx().Exec(ctx, `CREATE TABLE side_effect (x int)`); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Transact: got %v, want fn's error", err)
	}
	// A failing append in the middle undoes the earlier one.
	err = s.Transact(ctx, func(tx *eventstore.Tx) error {
		if _, err := tx.Append(ctx, "a", eventstore.NoStream, newEvent("Tick", 1)); err != nil {
			return err
		}
		_, err := tx.Append(ctx, "b", eventstore.NoStream, newEvent("Tick", 2))
		return err
	})
	var vc *eventstore.VersionConflictError
	if !errors.As(err, &vc) || vc.Stream != "b" || vc.Actual != 1 {
		t.Fatalf("Transact with a conflicting append: got %v, want a conflict on b at version 1", err)
	}
	if _, err := s.Load(ctx, "a", 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("stream a after failed transactions: got %v, want ErrStreamNotFound", err)
	}
	if v, _ := s.Version(ctx, "b"); v != 1 {
		t.Fatalf("stream b after failed transactions is at version %d, want 1", v)
	}
	var tables int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE tablename = 'side_effect'`).Scan(&tables); err != nil || tables != 0 {
		t.Fatalf("the failed transaction's other writes stayed (%d tables, %v)", tables, err)
	}
	select {
	case <-changed:
		t.Fatal("failed transactions signalled a change")
	default:
	}

	var inTx eventstore.AppendResult
	var last int64
	err = s.Transact(ctx, func(tx *eventstore.Tx) error {
		if _, err := tx.Append(ctx, "a", eventstore.NoStream, newEvent("Tick", 1)); err != nil {
			return err
		}
		var err error
		inTx, err = tx.Append(ctx, "b", eventstore.Exactly(1), newEvents("Tick", 2)...)
		last = tx.LastPosition()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if last != inTx.LastPosition() {
		t.Fatalf("Tx.LastPosition: got %d, want %d", last, inTx.LastPosition())
	}
	select {
	case <-changed:
	default:
		t.Fatal("a committed transaction with events did not signal a change")
	}
	a, errA := s.Load(ctx, "a", 0)
	b, errB := s.Load(ctx, "b", 0)
	if errA != nil || errB != nil || len(a) != 1 || len(b) != 3 {
		t.Fatalf("after commit: a has %d events (%v), b %d (%v); want 1 and 3", len(a), errA, len(b), errB)
	}
	// One transaction's events are adjacent in the global order.
	if b[1].Position != a[0].Position+1 || b[2].Position != a[0].Position+2 {
		t.Fatalf("positions of one transaction: %d, %d, %d; want consecutive", a[0].Position, b[1].Position, b[2].Position)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	if _, err := s.Append(ctx, "s", eventstore.NoStream, newEvents("Tick", 5)...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "other", eventstore.NoStream, newEvents("Tick", 2)...); err != nil {
		t.Fatal(err)
	}
	recs, err := s.Load(ctx, "s", 2)
	if err != nil {
		t.Fatal(err)
	}
	var versions []int64
	for _, r := range recs {
		if r.StreamID != "s" {
			t.Fatalf("Load returned an event of stream %q", r.StreamID)
		}
		versions = append(versions, r.Version)
	}
	if !slices.Equal(versions, []int64{3, 4, 5}) {
		t.Fatalf("Load from version 2: versions %v, want [3 4 5]", versions)
	}
	if recs, err := s.Load(ctx, "s", 5); err != nil || len(recs) != 0 {
		t.Fatalf("Load past the end: got %d events, %v; want none and no error", len(recs), err)
	}
	if _, err := s.Load(ctx, "missing", 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("Load of a missing stream: got %v, want ErrStreamNotFound", err)
	}
	err = s.Transact(ctx, func(tx *eventstore.Tx) error {
		if _, err := tx.Append(ctx, "s", eventstore.Exactly(5), newEvent("Tick", 6)); err != nil {
			return err
		}
		recs, err := tx.Load(ctx, "s", 4)
		if err != nil || len(recs) != 2 || recs[1].Version != 6 {
			t.Errorf("Tx.Load sees %d events (%v), want its own append too", len(recs), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestEventsRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)
	s := eventstore.New(testdb.New(t), clock.NewManual(at))
	e := eventstore.Event{
		ID:            uuid.New(),
		Type:          "RolesChanged",
		SchemaVersion: 3,
		Data:          json.RawMessage(`{"login": "jdoe", "roles": ["admin", "billing"], "note": "café ☕"}`),
		Metadata: eventstore.Metadata{
			Actor: "jdoe", ActorKind: "user", Contract: "C-42", CorrelationID: "corr-1",
			CausationID: "cause-1", RequestID: "req-1", SourceIP: "2001:db8::1",
		},
	}
	res, err := s.Append(ctx, "membership-C-42", eventstore.NoStream, e, newEvent("Plain", 1))
	if err != nil {
		t.Fatal(err)
	}
	check := func(how string, r eventstore.Record) {
		t.Helper()
		if r.EventID != e.ID || r.Type != e.Type || r.SchemaVersion != 3 || r.StreamID != "membership-C-42" ||
			r.Version != 1 || r.Position != res.Positions[0] || !r.RecordedAt.Equal(at) || r.Metadata != e.Metadata {
			t.Fatalf("%s: got %+v, want %+v at %s", how, r, e, at)
		}
		var got, want any
		if err := json.Unmarshal(r.Data, &got); err != nil {
			t.Fatal(err)
		}
		_ = json.Unmarshal(e.Data, &want)
		if gotJSON, _ := json.Marshal(got); string(gotJSON) != mustJSON(want) {
			t.Fatalf("%s: data %s, want %s", how, r.Data, e.Data)
		}
	}
	recs, err := s.Load(ctx, "membership-C-42", 0)
	if err != nil {
		t.Fatal(err)
	}
	check("Load", recs[0])
	if recs[1].SchemaVersion != 1 || string(recs[1].Data) == "" || recs[1].Metadata != (eventstore.Metadata{}) {
		t.Fatalf("defaults: got %+v, want schema version 1 and empty metadata", recs[1])
	}
	all := readEverything(t, s, eventstore.ReadOptions{})
	if len(all) != 2 {
		t.Fatalf("ReadAll: %d events, want 2", len(all))
	}
	check("ReadAll", all[0])
	typed := readEverything(t, s, eventstore.ReadOptions{Types: []string{"Plain"}})
	if len(typed) != 1 || typed[0].Type != "Plain" {
		t.Fatalf("ReadAll of type Plain: %+v", typed)
	}
}

// readEverything reads all events with ReadPage. Transactions in flight
// anywhere on the server (other tests' databases included) hold events
// back, so it reads until nothing is held back.
func readEverything(t *testing.T, s *eventstore.Store, opt eventstore.ReadOptions) []eventstore.Record {
	t.Helper()
	ctx := ctxTimeout(t)
	var all []eventstore.Record
	var next int64
	for {
		page, err := s.ReadPage(ctx, s.Pool(), next, opt)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, page.Records...)
		next = page.Next
		if len(page.Records) == 0 && !page.HeldBack {
			return all
		}
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// The events table refuses to change history, whatever the SQL.
func TestStoredEventsAreImmutable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	if _, err := s.Append(ctx, "s", eventstore.NoStream, newEvents("Tick", 2)...); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`UPDATE events SET event_type = 'Forged'`,
		`UPDATE events SET data = '{}' WHERE stream_version = 2`,
		`DELETE FROM events WHERE stream_version = 1`,
		`DELETE FROM events`,
		`TRUNCATE events`,
	} {
		_, err := s.Pool().Exec(ctx, stmt)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "42501" {
			t.Errorf("%s: got %v, want SQLSTATE 42501 from the immutability trigger", stmt, err)
		}
	}
	recs, err := s.Load(ctx, "s", 0)
	if err != nil || len(recs) != 2 || recs[0].Type != "Tick" {
		t.Fatalf("after the refused statements: %+v, %v", recs, err)
	}
}

// ctxTimeout is a context for the waits of a test.
func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// Each hands over a stream's events in version order and stops when told.
func TestEachStopsWhenTold(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	if _, err := s.Append(ctx, "s", eventstore.NoStream, newEvents("Tick", 5)...); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Append(ctx, "other", eventstore.NoStream, newEvents("Tick", 2)...); err != nil {
		t.Fatal(err)
	}
	var versions []int64
	err := s.Each(ctx, "s", func(r eventstore.Record) (bool, error) {
		if r.StreamID != "s" || len(r.RawMetadata) == 0 {
			t.Errorf("event %d: stream %q, metadata %q", r.Version, r.StreamID, r.RawMetadata)
		}
		versions = append(versions, r.Version)
		return r.Version < 3, nil
	})
	if err != nil || !slices.Equal(versions, []int64{1, 2, 3}) {
		t.Fatalf("Each stopping after version 3: versions %v, %v; want [1 2 3]", versions, err)
	}
	stop := errors.New("stop")
	if err := s.Each(ctx, "s", func(eventstore.Record) (bool, error) { return true, stop }); !errors.Is(err, stop) {
		t.Fatalf("Each passes fn's error on: got %v", err)
	}
	if err := s.Each(ctx, "missing", func(eventstore.Record) (bool, error) { return true, nil }); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("Each of a missing stream: got %v, want ErrStreamNotFound", err)
	}
	// A stream of several pages, whole then stopped in its second page.
	if _, err := s.Append(ctx, "long", eventstore.NoStream, newEvents("Tick", 300)...); err != nil {
		t.Fatal(err)
	}
	for _, stopAt := range []int64{300, 200} {
		versions = versions[:0]
		err := s.Each(ctx, "long", func(r eventstore.Record) (bool, error) {
			versions = append(versions, r.Version)
			return r.Version < stopAt, nil
		})
		if err != nil || len(versions) != int(stopAt) || versions[0] != 1 || !slices.IsSorted(versions) || versions[len(versions)-1] != stopAt {
			t.Fatalf("Each of 300 events stopping at %d: %d versions (%v)", stopAt, len(versions), err)
		}
	}
}

// A page is read through the primary key's index, in order, whatever the
// planner knows of the table: on a table just filled (no statistics yet),
// the plan of a bound it cannot know in advance once was a scan of the
// whole table to learn whether events lay beyond it, on every read.
func TestReadPageReadsTheIndexNotTheTable(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	for i := range 20 {
		events := make([]eventstore.Event, 250)
		for j := range events {
			events[j] = newEvent("Filled", i*250+j)
		}
		if _, err := s.Append(ctx, fmt.Sprintf("filled-%d", i), eventstore.NoStream, events...); err != nil {
			t.Fatal(err)
		}
	}
	conn, err := s.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The plan a long-lived connection ends up with: one for any argument.
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []eventstore.ReadOptions{{Limit: 1000}, {Limit: 500, Types: []string{"Filled"}}, {HeadersOnly: true}} {
		sql, args := eventstore.ReadPageQuery(0, opt)
		if _, err := conn.Exec(ctx, `DEALLOCATE ALL`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, `PREPARE page(bigint, int, text[]) AS `+sql); err != nil {
			t.Fatal(err)
		}
		types := "NULL"
		if t, _ := args[2].([]string); t != nil {
			types = "'{" + strings.Join(t, ",") + "}'"
		}
		rows, err := conn.Query(ctx, fmt.Sprintf(`EXPLAIN (COSTS false) EXECUTE page(%d, %d, %s)`, args[0], args[1], types))
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		plan := strings.Join(lines, "\n")
		for _, bad := range []string{"Seq Scan", "Sort", "Bitmap"} {
			if strings.Contains(plan, bad) {
				t.Errorf("%+v: the plan has a %s:\n%s", opt, bad, plan)
			}
		}
		if !strings.Contains(plan, "Index Scan using events_pkey") {
			t.Errorf("%+v: the page is not read through the primary key:\n%s", opt, plan)
		}
	}
	// And the page is right: every event, in order, then an empty page
	// (once no older transaction of the cluster holds them back).
	var last int64
	if err := s.Pool().QueryRow(ctx, `SELECT max(position) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.WaitVisible(wctx, last); err != nil {
		t.Fatal(err)
	}
	var got []int64
	after := int64(0)
	for {
		p, err := s.ReadPage(ctx, s.Pool(), after, eventstore.ReadOptions{Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Records) == 0 {
			break
		}
		for _, r := range p.Records {
			got = append(got, r.Position)
		}
		after = p.Next
	}
	if len(got) != 5000 || !slices.IsSorted(got) {
		t.Fatalf("read %d events (sorted: %t), want 5000 in order", len(got), slices.IsSorted(got))
	}
}

// A transaction's BEGIN goes with its first batch: the batch's statements
// run inside the transaction (undone with it), its results are its own
// (not the BEGIN's), and a transaction that sends nothing commits.
func TestTransactBeginsWithTheFirstBatch(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	if _, err := s.Pool().Exec(ctx, `CREATE TABLE lazy_begin (n int)`); err != nil {
		t.Fatal(err)
	}
	errUndo := errors.New("undo")
	for _, fail := range []bool{true, false} {
		var inTx bool
		var n int
		err := s.Transact(ctx, func(tx *eventstore.Tx) error {
			b := &pgx.Batch{}
			b.Queue(`INSERT INTO lazy_begin VALUES (1)`)
			b.Queue(`SELECT 'mine'`)
			b.Queue(`SELECT count(*) FROM lazy_begin`)
			br := tx.Pgx().SendBatch(ctx, b)
			if _, err := br.Exec(); err != nil {
				return err
			}
			var mine string
			if err := br.QueryRow().Scan(&mine); err != nil {
				return err
			}
			inTx = mine == "mine"
			if err := br.QueryRow().Scan(&n); err != nil {
				return err
			}
			if err := br.Close(); err != nil {
				return err
			}
			if fail {
				return errUndo
			}
			return nil
		})
		if fail != errors.Is(err, errUndo) || !fail && err != nil {
			t.Fatalf("fail %t: %v", fail, err)
		}
		if !inTx || n < 1 {
			t.Fatalf("fail %t: the batch's own results were not read (n = %d)", fail, n)
		}
		var stored int
		if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM lazy_begin`).Scan(&stored); err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{true: 0, false: 1}[fail]; stored != want {
			t.Fatalf("fail %t: %d rows stored, want %d: the batch ran outside the transaction", fail, stored, want)
		}
	}
	if err := s.Transact(ctx, func(*eventstore.Tx) error { return nil }); err != nil {
		t.Fatalf("a transaction that sends nothing: %v", err)
	}
	if err := s.Transact(ctx, func(tx *eventstore.Tx) error {
		_, err := tx.Pgx().Exec(ctx, `INSERT INTO lazy_begin VALUES (2)`)
		if err != nil {
			return err
		}
		return errUndo
	}); !errors.Is(err, errUndo) {
		t.Fatal(err)
	}
	var twos int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM lazy_begin WHERE n = 2`).Scan(&twos); err != nil || twos != 0 {
		t.Fatalf("a statement sent alone ran outside the transaction: %d rows, %v", twos, err)
	}
}

// WaitVisible waits while an older transaction holds an event back from
// gap-safe readers, and returns once it ended.
func TestWaitVisibleWaitsForTheTransactionHoldingEventsBack(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := context.Background()
	blocker, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = blocker.Rollback(ctx) }()
	if _, err := blocker.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil { // takes a transaction id
		t.Fatal(err)
	}
	res, err := s.Append(ctx, "held-back", eventstore.NoStream, newEvent("Held", 1))
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.WaitVisible(short, res.LastPosition()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("while an older transaction runs: %v, want the deadline", err)
	}
	done := make(chan error, 1)
	go func() {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		done <- s.WaitVisible(wctx, res.LastPosition())
	}()
	time.Sleep(20 * time.Millisecond)
	if err := blocker.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("once it ended: %v", err)
	}
}

// Appends beyond the store's concurrency wait in the process, not in the
// database: with two slots, a third append stays out of PostgreSQL while
// two are stuck there, goes in once one is through, and one whose context
// ends while it waits gives up without writing.
func TestAppendsBeyondTheConcurrencyWaitInTheProcess(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStoreWithConns(t, 8)
	s.SetAppendConcurrency(2)
	lock, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lock.Rollback(ctx) }()
	if _, err := lock.Exec(ctx, `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	inDatabase := func() int { return appendsWaitingOnLock(t, ctx, s) }
	done := make(chan error, 3)
	for i := range 3 {
		go func() {
			_, err := s.Append(ctx, fmt.Sprintf("admitted-%d", i), eventstore.NoStream, newEvent("Admitted", i))
			done <- err
		}()
	}
	for deadline := time.Now().Add(10 * time.Second); inDatabase() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d appends reached the database, want 2", inDatabase())
		}
	}
	time.Sleep(100 * time.Millisecond) // time for a third to get there, were it let in
	if n := inDatabase(); n != 2 {
		t.Fatalf("%d appends in the database with 2 slots", n)
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := s.Append(short, "gave-up", eventstore.NoStream, newEvent("Admitted", 9)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("an append whose context ends while it waits: %v, want the deadline", err)
	}
	if err := lock.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	var streams []string
	rows, err := s.Pool().Query(ctx, `SELECT stream_id FROM events ORDER BY stream_id`)
	if err != nil {
		t.Fatal(err)
	}
	if streams, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if want := "[admitted-0 admitted-1 admitted-2]"; fmt.Sprint(streams) != want {
		t.Fatalf("streams %v, want %s", streams, want)
	}
}

// A listening store wakes its waiters for the commits of other processes'
// stores, and not a second time for its own: those woke them when made.
func TestListenWakesForOthersCommitsNotAgainForItsOwn(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	pool := testdb.New(t)
	mine, theirs := eventstore.New(pool, clock.Real{}), eventstore.New(pool, clock.Real{})
	listenCtx, stop := context.WithCancel(ctx)
	defer stop()
	go mine.Listen(listenCtx, slog.New(slog.DiscardHandler))
	go theirs.Listen(listenCtx, slog.New(slog.DiscardHandler))

	// Another store's commits wake this one's waiters (until the listener
	// is up, a commit may go unheard: append until one is heard).
	woken := false
	for i := 0; !woken && i < 200; i++ {
		changed := mine.Changes().C()
		if _, err := theirs.Append(ctx, "theirs", eventstore.Any, newEvent("Theirs", i)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-changed:
			woken = true
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !woken {
		t.Fatal("another store's commits never woke this store's waiters")
	}

	// Until the other store's last notifications have come.
	for quiet := false; !quiet; {
		select {
		case <-mine.Changes().C():
		case <-time.After(300 * time.Millisecond):
			quiet = true
		}
	}

	// Its own commit wakes them at once, and no notification comes back.
	changed := mine.Changes().C()
	heard := theirs.Changes().C()
	if _, err := mine.Append(ctx, "mine", eventstore.NoStream, newEvent("Mine", 0)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	default:
		t.Fatal("a commit did not wake this store's own waiters")
	}
	again := mine.Changes().C()
	// theirs hears this commit through PostgreSQL; once it has, so would
	// mine have, were it listening to its own.
	select {
	case <-heard:
	case <-time.After(10 * time.Second):
		t.Fatal("the other store never heard this store's commit")
	}
	select {
	case <-again:
		t.Fatal("this store's own notification woke its waiters a second time")
	case <-time.After(200 * time.Millisecond):
	}
}
