package projections_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"selfcare/eventstore"
	"selfcare/projections"
)

// Rebuild replaces a live read model while it is read and written: a
// reader polling it never sees a half-built view (the counts never drop,
// and in every snapshot the read model equals a recount of the events up
// to the checkpoint), and afterwards the runner follows on from the
// rebuilt model's checkpoint.
func TestRebuildSwapsInAWholeReadModel(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	appendMany(t, s, 2000)
	r := projections.NewRunner(s, testLogger(t), counter(1, 0))
	run(t, r)
	if err := r.WaitFor(ctx, lastPosition(t, s)); err != nil {
		t.Fatal(err)
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var written atomic.Int64
	wg.Go(func() { // a writer
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			if _, err := appendOne(ctx, s, i); err != nil {
				t.Errorf("append: %v", err)
				return
			}
			written.Add(1)
		}
	})
	var reads, readsDuringRebuild atomic.Int64
	var rebuilding atomic.Bool
	wg.Go(func() { // a reader
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			during := rebuilding.Load()
			total, err := consistentRead(ctx, s.Pool())
			if err != nil {
				t.Errorf("read %d (during the rebuild: %v): %v", reads.Load()+1, during, err)
				return
			}
			if total < last {
				t.Errorf("read %d: the read model counts %d events, after %d: a half-built view", reads.Load()+1, total, last)
				return
			}
			last = total
			reads.Add(1)
			time.Sleep(2 * time.Millisecond)
			if rebuilding.Load() {
				readsDuringRebuild.Add(1)
			}
		}
	})

	var calls, lastApplied, lastTotal atomic.Int64
	rebuilding.Store(true)
	err := r.Rebuild(ctx, "counts", func(name string, applied, total int64) {
		calls.Add(1)
		lastApplied.Store(applied)
		lastTotal.Store(total)
	})
	rebuilding.Store(false)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // the runner follows on from the swap
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}

	if calls.Load() < 3 || lastApplied.Load() < 2000 || lastApplied.Load() > lastTotal.Load() {
		t.Errorf("progress: %d calls, last %d of %d; want a few calls, at least 2000 applied, never more than the total",
			calls.Load(), lastApplied.Load(), lastTotal.Load())
	}
	if readsDuringRebuild.Load() < 5 {
		t.Fatalf("only %d reads during the rebuild: the test proved nothing", readsDuringRebuild.Load())
	}
	if err := r.WaitFor(ctx, lastPosition(t, s)); err != nil {
		t.Fatal(err)
	}
	if total, err := consistentRead(ctx, s.Pool()); err != nil || total != 2000+written.Load() {
		t.Fatalf("after the rebuild: the read model counts %d events (%v), want %d", total, err, 2000+written.Load())
	}
	var shadows int
	if err := s.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rm\_counts\_\_%'`).Scan(&shadows); err != nil || shadows != 0 {
		t.Fatalf("%d shadow schemas left (%v)", shadows, err)
	}
	t.Logf("%d reads, %d during the rebuild, %d events appended meanwhile", reads.Load(), readsDuringRebuild.Load(), written.Load())
}

// consistentRead reads the counter's read model and checkpoint in one
// statement (one snapshot), checks that the model is exactly the events up
// to the checkpoint, and returns how many events it counts.
//
// One statement, not a REPEATABLE READ transaction of several: catalog
// lookups are not MVCC, so a transaction whose snapshot predates the swap
// and that first touches the read model after it finds the new tables
// without the rows the swapping transaction wrote: it sees a partial model.
func consistentRead(ctx context.Context, q eventstore.Querier) (int64, error) {
	var pos, total, wrong int64
	err := q.QueryRow(ctx, `
WITH c AS (SELECT position FROM projection_checkpoints WHERE name = 'counts'),
m AS (SELECT stream, n FROM rm_counts.counts),
e AS (SELECT stream_id AS stream, count(*) AS n FROM events, c WHERE events.position <= c.position GROUP BY stream_id)
SELECT (SELECT position FROM c), (SELECT coalesce(sum(n), 0) FROM m)::bigint,
       (SELECT count(*) FROM m FULL JOIN e ON m.stream = e.stream WHERE m.n IS DISTINCT FROM e.n)`).Scan(&pos, &total, &wrong)
	if err != nil {
		return 0, err
	}
	if wrong > 0 {
		return total, fmt.Errorf("read model and checkpoint %d disagree on %d streams", pos, wrong)
	}
	return total, nil
}
