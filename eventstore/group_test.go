package eventstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
)

// appendOutcome is what one concurrent Append returned.
type appendOutcome struct {
	res eventstore.AppendResult
	err error
}

// heldStore is heldStoreOn a new store.
func heldStore(t *testing.T, ctx context.Context) (*eventstore.Store, func()) {
	t.Helper()
	return heldStoreOn(t, ctx, newStoreWithConns(t, 8))
}

// heldStoreOn gives s one append slot, taken by an append that
// PostgreSQL holds (a table lock) until release is called: every
// single-event append after it waits in the process, to go in a group.
func heldStoreOn(t *testing.T, ctx context.Context, s *eventstore.Store) (*eventstore.Store, func()) {
	t.Helper()
	s.SetAppendConcurrency(1)
	lock, err := s.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lock.Rollback(context.Background()) })
	if _, err := lock.Exec(ctx, `LOCK TABLE events IN EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	first := make(chan error, 1)
	go func() {
		_, err := s.Append(ctx, "held", eventstore.NoStream, newEvent("Held", 0))
		first <- err
	}()
	waitFor(t, "the first append to wait on the lock", func() bool { return appendsWaitingOnLock(t, ctx, s) == 1 })
	return s, func() {
		if err := lock.Rollback(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-first; err != nil {
			t.Fatal(err)
		}
	}
}

// appendsWaitingOnLock is how many appends of s's database wait in
// PostgreSQL on a lock.
func appendsWaitingOnLock(t *testing.T, ctx context.Context, s *eventstore.Store) int {
	t.Helper()
	var n int
	err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO events%'`).Scan(&n)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// queueAppend starts an Append and waits until it waits for a slot, so
// that appends queue in the order the test starts them.
func queueAppend(t *testing.T, ctx context.Context, s *eventstore.Store, stream string, expected eventstore.Expectation, e eventstore.Event) <-chan appendOutcome {
	t.Helper()
	before := s.Waiting()
	out := make(chan appendOutcome, 1)
	go func() {
		res, err := s.Append(ctx, stream, expected, e)
		out <- appendOutcome{res, err}
	}()
	waitFor(t, "the append to "+stream+" to wait", func() bool { return s.Waiting() == before+1 })
	return out
}

func transactionOf(position int64) int64 { return position >> 20 }

// Single-event appends that wait together are stored together, in one
// transaction, and each keeps the outcome it would have had alone: a
// stream behind its expected version fails, a retried append finds its
// event, and a second append to a stream of the group waits for a later
// one.
func TestWaitingAppendsAreStoredInOneTransactionEachWithItsOwnOutcome(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStoreWithConns(t, 8)
	if _, err := s.Append(ctx, "g-behind", eventstore.NoStream, newEvents("Before", 2)...); err != nil {
		t.Fatal(err)
	}
	retried := newEvent("Retried", 1)
	first, err := s.Append(ctx, "g-retry", eventstore.NoStream, retried)
	if err != nil {
		t.Fatal(err)
	}
	s, release := heldStoreOn(t, ctx, s)
	outs := map[string]<-chan appendOutcome{
		"a":       queueAppend(t, ctx, s, "g-a", eventstore.NoStream, newEvent("Grouped", 1)),
		"b":       queueAppend(t, ctx, s, "g-b", eventstore.NoStream, newEvent("Grouped", 2)),
		"behind":  queueAppend(t, ctx, s, "g-behind", eventstore.Exactly(3), newEvent("Grouped", 3)),
		"c":       queueAppend(t, ctx, s, "g-c", eventstore.Any, newEvent("Grouped", 4)),
		"a-again": queueAppend(t, ctx, s, "g-a", eventstore.Exactly(1), newEvent("Grouped", 5)),
		"retry":   queueAppend(t, ctx, s, "g-retry", eventstore.NoStream, retried),
	}
	release()

	got := map[string]appendOutcome{}
	for name, ch := range outs {
		got[name] = <-ch
	}
	for _, name := range []string{"a", "b", "c", "a-again", "retry"} {
		if got[name].err != nil {
			t.Fatalf("append %s: %v", name, got[name].err)
		}
	}
	var vc *eventstore.VersionConflictError
	if !errors.As(got["behind"].err, &vc) || vc.Expected != 3 || vc.Actual != 2 {
		t.Fatalf("append to a stream behind its expected version: %v, want a conflict (expected 3, actual 2)", got["behind"].err)
	}
	if !slices.Equal(got["retry"].res.Positions, first.Positions) || got["retry"].res.Version != 1 {
		t.Fatalf("retried append: %+v, want %v at version 1", got["retry"].res, first.Positions)
	}
	// a, b and c went in one transaction, at consecutive positions from
	// its base in stream order; the second append to g-a in a later one.
	one := transactionOf(got["a"].res.Positions[0])
	for i, name := range []string{"a", "b", "c"} {
		if p := got[name].res.Positions[0]; p != one<<20+int64(i) {
			t.Fatalf("append %s at %d (transaction %d), want %d: the waiting appends were not stored as one group",
				name, p, transactionOf(p), one<<20+int64(i))
		}
	}
	if transactionOf(got["a-again"].res.Positions[0]) <= one || got["a-again"].res.Version != 2 {
		t.Fatalf("second append to g-a: %+v, want version 2 in a later transaction than the first (%d)", got["a-again"].res, one)
	}

	// What is stored is what the callers were told.
	rows, err := s.Pool().Query(ctx, `SELECT stream_id || '@' || stream_version || ':' || position FROM events
WHERE stream_id IN ('g-a', 'g-b', 'g-c', 'g-behind') ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	at := func(stream string, version int64, o appendOutcome) string {
		return fmt.Sprintf("%s@%d:%d", stream, version, o.res.Positions[0])
	}
	want := append(stored[:2:2], at("g-a", 1, got["a"]), at("g-b", 1, got["b"]), at("g-c", 1, got["c"]), at("g-a", 2, got["a-again"]))
	if !slices.Equal(stored, want) || !strings.HasPrefix(stored[0], "g-behind@1:") {
		t.Fatalf("stored %v, want %v after g-behind's two events", stored, want)
	}
}

// When a group's statement fails as a whole, nothing of it is stored and
// each of its appends goes on alone: an event id stored already fails its
// own append, not the others.
func TestAGroupThatFailsLeavesEachAppendToItsOwnOutcome(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStoreWithConns(t, 8)
	dup := newEvent("Stored", 0)
	if _, err := s.Append(ctx, "d-other", eventstore.NoStream, dup); err != nil {
		t.Fatal(err)
	}
	s, release := heldStoreOn(t, ctx, s)
	a := queueAppend(t, ctx, s, "d-a", eventstore.NoStream, newEvent("Grouped", 1))
	d := queueAppend(t, ctx, s, "d-dup", eventstore.NoStream, dup)
	b := queueAppend(t, ctx, s, "d-b", eventstore.NoStream, newEvent("Grouped", 2))
	release()
	ra, rd, rb := <-a, <-d, <-b
	if ra.err != nil || rb.err != nil {
		t.Fatalf("appends beside a duplicate: %v, %v", ra.err, rb.err)
	}
	if !errors.Is(rd.err, eventstore.ErrDuplicateEventID) {
		t.Fatalf("an event id stored in another stream: %v, want ErrDuplicateEventID", rd.err)
	}
	if transactionOf(ra.res.Positions[0]) == transactionOf(rb.res.Positions[0]) {
		t.Fatal("the appends of a failed group were stored together: they must have gone on alone")
	}
	if v, err := s.Version(ctx, "d-dup"); err != nil || v != 0 {
		t.Fatalf("d-dup at version %d (%v), want nothing stored", v, err)
	}
}

// An append whose context ends while it waits in a group's queue gives up
// and stores nothing.
func TestAWaitingAppendWhoseContextEndsStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s, release := heldStore(t, ctx)
	short, cancel := context.WithCancel(ctx)
	gone := queueAppend(t, short, s, "gone", eventstore.NoStream, newEvent("Gone", 1))
	kept := queueAppend(t, ctx, s, "kept", eventstore.NoStream, newEvent("Kept", 1))
	cancel()
	if out := <-gone; !errors.Is(out.err, context.Canceled) {
		t.Fatalf("append whose context ended: %v, want context.Canceled", out.err)
	}
	release()
	if out := <-kept; out.err != nil {
		t.Fatal(out.err)
	}
	if v, err := s.Version(ctx, "gone"); err != nil || v != 0 {
		t.Fatalf("gone at version %d (%v), want nothing stored", v, err)
	}
}

// Under load, with groups forming all the time (one slot), every append
// is stored exactly once where its caller was told: writers on streams of
// their own (each append expecting the version before it) beside writers
// racing on one shared stream (Any).
func TestGroupedAppendsUnderLoadStoreEachEventOnceWhereItsCallerWasTold(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStoreWithConns(t, 8)
	s.SetAppendConcurrency(1)
	const writers, each = 12, 40
	type told struct {
		stream   string
		version  int64
		position int64
	}
	results := make(chan told, writers*each)
	errs := make(chan error, writers)
	for w := range writers {
		go func() {
			stream, expected := fmt.Sprintf("own-%d", w), eventstore.NoStream
			if w%3 == 0 {
				stream = "shared"
			}
			for i := range each {
				exp := expected
				if stream == "shared" {
					exp = eventstore.Any
				}
				res, err := s.Append(ctx, stream, exp, newEvent("Load", i))
				if err != nil {
					errs <- fmt.Errorf("writer %d, append %d: %w", w, i, err)
					return
				}
				expected = eventstore.Exactly(res.Version)
				results <- told{stream, res.Version, res.Positions[0]}
			}
			errs <- nil
		}()
	}
	for range writers {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	close(results)
	want := map[string]bool{}
	for r := range results {
		want[fmt.Sprintf("%s@%d:%d", r.stream, r.version, r.position)] = true
	}
	rows, err := s.Pool().Query(ctx, `SELECT stream_id || '@' || stream_version || ':' || position FROM events`)
	if err != nil {
		t.Fatal(err)
	}
	stored, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != writers*each || len(want) != writers*each {
		t.Fatalf("%d events stored, %d distinct answers, want %d of each", len(stored), len(want), writers*each)
	}
	for _, row := range stored {
		if !want[row] {
			t.Fatalf("stored %s, which no caller was told", row)
		}
	}
	var grouped int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM (SELECT position >> 20 FROM events GROUP BY 1 HAVING count(*) > 1) g`).Scan(&grouped); err != nil {
		t.Fatal(err)
	}
	if grouped == 0 {
		t.Fatal("no transaction stored more than one event: the load formed no group")
	}
}
