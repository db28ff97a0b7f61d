package projections_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
	"selfcare/projections"
)

// A running projector applies a new event promptly: with a 10 s poll
// interval, only the store's change signal can explain a read model that
// reflects an append within half a second (median). It stays prompt, within
// a second, while other writers keep appending (at a rate it can follow:
// this is about waking up and announcing progress, not throughput).
//
// Not parallel: other tests' transactions would hold its appends back.
func TestRunnerFollowsAppendsPromptly(t *testing.T) {
	s := newStore(t)
	r := projections.NewRunner(s, testLogger(t), counter(1, 0))
	r.PollInterval = 10 * time.Second
	run(t, r)
	ctx := ctxTimeout(t)

	// Latency is measured from when the append is visible to gap-safe
	// readers: transactions in flight anywhere on the server (other
	// tests') may hold it back, which no runner can help.
	const maxLatency = 500 * time.Millisecond
	measure := func(i int) time.Duration {
		t.Helper()
		res, err := appendOne(ctx, s, i)
		if err != nil {
			t.Fatal(err)
		}
		visible := visibleAt(ctx, s, res.LastPosition())
		if err := r.WaitFor(ctx, res.LastPosition()); err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		return max(time.Since(<-visible), 0)
	}

	// Medians: a loaded machine (the race detector, other tests) may hold
	// one append up; with a broken signal, most would wait for the poll.
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	var idle []time.Duration
	for i := range 11 {
		idle = append(idle, measure(i))
	}
	if m := median(idle); m > maxLatency {
		t.Errorf("an idle runner took %s (median) to apply an append", m)
	}

	writeCtx, stopWriting := context.WithCancel(ctx)
	var writers sync.WaitGroup
	for w := range 3 {
		writers.Go(func() {
			for i := w; writeCtx.Err() == nil; i += 3 {
				if _, err := appendOne(writeCtx, s, 100+i); err != nil && writeCtx.Err() == nil {
					t.Errorf("append: %v", err)
					return
				}
				time.Sleep(time.Duration(rand.IntN(20)) * time.Millisecond)
			}
		})
	}
	var latencies []time.Duration
	for i := range 21 {
		latencies = append(latencies, measure(1000+i))
	}
	stopWriting()
	writers.Wait()
	if m := median(latencies); m > 2*maxLatency {
		t.Errorf("under a steady stream of appends, the runner took %s (median) to apply an append", m)
	}

	if err := r.WaitFor(ctx, lastPosition(t, s)); err != nil {
		t.Fatal(err)
	}
	model, err := readModel(ctx, s.Pool())
	if err != nil {
		t.Fatal(err)
	}
	events, err := recount(ctx, s.Pool(), 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameCounts(model, events); err != nil {
		t.Fatal(err)
	}
	t.Logf("latency: idle median %s, worst %s; under load median %s, worst %s",
		idle[len(idle)/2], idle[len(idle)-1], latencies[len(latencies)/2], latencies[len(latencies)-1])
}

// Prepare builds a new projector's read model from position 0, leaves a
// current one alone, and rebuilds one made by another version.
func TestPrepareBuildsAndRebuildsOnVersionChange(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	logger := testLogger(t)
	appendMany(t, s, 600)
	last := lastPosition(t, s)
	waitUntil(ctx, t, "the events are visible", func() (bool, error) { h, err := s.Head(ctx); return h >= last, err })

	r1 := projections.NewRunner(s, logger, counter(1, 0))
	if err := r1.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	pos, version, err := checkpoint(ctx, s.Pool())
	if err != nil || version != 1 || pos < last {
		t.Fatalf("after the first build: checkpoint at %d version %d (%v), want version 1 at %d or beyond", pos, version, err, last)
	}
	assertCurrent(ctx, t, s, 1)
	if err := r1.WaitFor(ctx, pos); err != nil {
		t.Fatalf("WaitFor after Prepare: %v", err)
	}

	// A marker the rebuild would wipe out.
	if _, err := s.Pool().Exec(ctx, `INSERT INTO rm_counts.counts VALUES ('marker', 1)`); err != nil {
		t.Fatal(err)
	}
	appendMany(t, s, 10)
	same := projections.NewRunner(s, logger, counter(1, 0))
	if err := same.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	var markers int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM rm_counts.counts WHERE stream = 'marker'`).Scan(&markers); err != nil || markers != 1 {
		t.Fatalf("Prepare of the same version rebuilt the read model (%d markers, %v)", markers, err)
	}
	if p, _, _ := checkpoint(ctx, s.Pool()); p != pos {
		t.Fatalf("Prepare of the same version moved the checkpoint from %d to %d", pos, p)
	}

	r2 := projections.NewRunner(s, logger, counter(2, 0))
	if err := r2.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM rm_counts.counts WHERE stream = 'marker'`).Scan(&markers); err != nil || markers != 0 {
		t.Fatalf("Prepare of version 2 kept the old read model (%d markers, %v)", markers, err)
	}
	assertCurrent(ctx, t, s, 2)
}

// visibleAt returns when position becomes visible to gap-safe readers.
func visibleAt(ctx context.Context, s *eventstore.Store, position int64) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		for {
			if h, err := s.Head(ctx); err != nil || h >= position {
				at <- time.Now()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return at
}

// assertCurrent checks that the read model was made by version and equals
// a recount of the events up to its checkpoint.
func assertCurrent(ctx context.Context, t *testing.T, s *eventstore.Store, version int) {
	t.Helper()
	pos, v, err := checkpoint(ctx, s.Pool())
	if err != nil || v != version {
		t.Fatalf("checkpoint version %d (%v), want %d", v, err, version)
	}
	var comment string
	if err := s.Pool().QueryRow(ctx, `SELECT obj_description('rm_counts.counts'::regclass)`).Scan(&comment); err != nil || comment != fmt.Sprintf("version %d", version) {
		t.Fatalf("the read model's table says %q (%v), want version %d's", comment, err, version)
	}
	model, err := readModel(ctx, s.Pool())
	if err != nil {
		t.Fatal(err)
	}
	events, err := recount(ctx, s.Pool(), pos)
	if err != nil {
		t.Fatal(err)
	}
	if err := sameCounts(model, events); err != nil {
		t.Fatalf("version %d's read model: %v", version, err)
	}
}

// Statuses tells each projector's checkpoint, its lag (the age of the
// oldest event it has not applied) and its last error.
func TestStatusesReportLagAndErrors(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	t0 := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	clk := clock.NewManual(t0)
	s := eventstore.New(testdb.New(t), clk)
	poison := uuid.New()
	failing := projections.Projector{
		Name: "picky", Version: 1, Schema: `CREATE TABLE seen (id uuid PRIMARY KEY)`,
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			if rec.EventID == poison {
				return errors.New("cannot digest this one")
			}
			_, err := tx.Exec(ctx, `INSERT INTO seen VALUES ($1)`, rec.EventID)
			return err
		},
	}
	r := projections.NewRunner(s, testLogger(t), counter(1, 0), failing)

	first, err := appendOne(ctx, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "the event is visible", func() (bool, error) { h, err := s.Head(ctx); return h >= first.LastPosition(), err })
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	for name, st := range statuses(ctx, t, r) {
		if st.Lag != 0 || st.Error != "" || st.Position <= 0 {
			t.Fatalf("%s after Prepare: %+v, want no lag, no error, a position", name, st)
		}
	}

	// Events recorded at t0+1m, looked at from t0+5m, not applied: 4 min.
	clk.Set(t0.Add(time.Minute))
	res, err := s.Append(ctx, "poisoned", eventstore.NoStream, eventstore.Event{ID: poison, Type: "Tick"})
	if err != nil {
		t.Fatal(err)
	}
	clk.Set(t0.Add(5 * time.Minute))
	waitUntil(ctx, t, "the new event is visible", func() (bool, error) {
		h, err := s.Head(ctx)
		return h >= res.LastPosition(), err
	})
	for name, st := range statuses(ctx, t, r) {
		if st.Lag != 4*time.Minute || st.LagMS != 240_000 {
			t.Fatalf("%s with an event unapplied for 4 min: %+v", name, st)
		}
	}

	run(t, r)
	waitUntil(ctx, t, "the failing projector reports its error", func() (bool, error) {
		return statuses(ctx, t, r)["picky"].Error != "", nil
	})
	if err := r.WaitFor(ctx, 1); err != nil {
		t.Fatal(err)
	}
	waitUntil(ctx, t, "the healthy projector catches up", func() (bool, error) {
		st := statuses(ctx, t, r)["counts"]
		return st.Lag == 0 && st.Position >= res.LastPosition(), nil
	})
	st := statuses(ctx, t, r)
	if st["counts"].Error != "" {
		t.Fatalf("healthy projector: %+v", st["counts"])
	}
	if st["picky"].Lag != 4*time.Minute || st["picky"].Position >= res.LastPosition() {
		t.Fatalf("failing projector: %+v, want its 4 min lag and a checkpoint before %d", st["picky"], res.LastPosition())
	}
}

// A projector slow to apply a backlog commits in short batches: while a
// batch's transaction runs, no gap-safe reader on the server sees newer
// events, so a batch of hundreds of slow events would stall every other
// projector and bus subscriber. Both while a read model is built and while
// it follows, a new event must become visible long before the backlog is
// applied.
//
// Not parallel: other tests' transactions would hold its appends back.
func TestSlowProjectorDoesNotStallOtherReaders(t *testing.T) {
	ctx := ctxTimeout(t)
	s := newStore(t)
	const perEvent = 10 * time.Millisecond
	const backlog = 150 // 1.5 s of work
	slow := counter(1, perEvent)
	var handled atomic.Int64
	handle := slow.Handle
	slow.Handle = func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
		handled.Add(1)
		return handle(ctx, tx, rec)
	}
	r := projections.NewRunner(s, testLogger(t), slow)
	stall := func(phase string) {
		t.Helper()
		// Well into the backlog: its batch has written.
		from := handled.Load()
		waitUntil(ctx, t, "the projector works", func() (bool, error) { return handled.Load() >= from+20, nil })
		res, err := appendOne(ctx, s, 0)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitUntil(ctx, t, "the new event is visible", func() (bool, error) { h, err := s.Head(ctx); return h >= res.LastPosition(), err })
		t.Logf("%s: a new event was visible after %s", phase, time.Since(start))
		if d := time.Since(start); d > 500*time.Millisecond {
			t.Errorf("%s: a new event stayed invisible for %s behind a slow projector's batch", phase, d)
		}
	}

	appendMany(t, s, backlog)
	last := lastPosition(t, s)
	waitUntil(ctx, t, "the backlog is visible", func() (bool, error) { h, err := s.Head(ctx); return h >= last, err })
	built := make(chan error, 1)
	go func() { built <- r.Prepare(ctx) }()
	stall("while building")
	if err := <-built; err != nil {
		t.Fatal(err)
	}

	run(t, r)
	time.Sleep(100 * time.Millisecond) // let it go idle
	appendMany(t, s, backlog)
	stall("while following")
	if err := r.WaitFor(ctx, lastPosition(t, s)); err != nil {
		t.Fatal(err)
	}
}

// WaitFor returns once the read models show the position waited for, not
// before, for many waiters at once; a waiter whose context ends gives up.
func TestWaitForReturnsOnceTheReadModelShowsThePosition(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	r := projections.NewRunner(s, testLogger(t), counter(1, time.Millisecond))
	run(t, r)
	var wg sync.WaitGroup
	for i := 1; i <= 60; i++ {
		res, err := s.Append(ctx, "waited", eventstore.Exactly(int64(i-1)), eventstore.Event{ID: uuid.New(), Type: "Tick"})
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			if err := r.WaitFor(ctx, res.LastPosition()); err != nil {
				t.Error(err)
				return
			}
			var n int64
			if err := s.Pool().QueryRow(ctx, `SELECT n FROM rm_counts.counts WHERE stream = 'waited'`).Scan(&n); err != nil || n < int64(i) {
				t.Errorf("WaitFor for event %d returned while the read model counts %d (%v)", i, n, err)
			}
		})
	}
	wg.Wait()

	gone, cancel := context.WithCancel(ctx)
	cancel()
	if err := r.WaitFor(gone, lastPosition(t, s)+1<<40); !errors.Is(err, context.Canceled) {
		t.Fatalf("WaitFor with an ended context: %v", err)
	}
}

// WaitFor does not wait for a background read model; WaitForAll does.
func TestWaitForLeavesBackgroundReadModelsOut(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	release := make(chan struct{})
	held := projections.Projector{
		Name: "held", Version: 1, Background: true,
		Schema: `CREATE TABLE seen (position bigint PRIMARY KEY)`,
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			select {
			case <-release:
			case <-ctx.Done():
				return ctx.Err()
			}
			_, err := tx.Exec(ctx, `INSERT INTO seen VALUES ($1)`, rec.Position)
			return err
		},
	}
	r := projections.NewRunner(s, testLogger(t), counter(1, 0), held)
	run(t, r)
	res, err := appendOne(ctx, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WaitFor(ctx, res.LastPosition()); err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if err := r.WaitForAll(short, res.LastPosition()); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForAll returned %v while the background read model was held", err)
	}
	close(release)
	if err := r.WaitForAll(ctx, res.LastPosition()); err != nil {
		t.Fatal(err)
	}
	var seen int64
	if err := s.Pool().QueryRow(ctx, `SELECT position FROM rm_held.seen`).Scan(&seen); err != nil || seen != res.LastPosition() {
		t.Fatalf("the background read model holds %d (%v), want %d", seen, err, res.LastPosition())
	}
}
