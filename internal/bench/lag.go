package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
	"selfcare/projections"
)

// lagProjector is a trivial read model: events per stream. It only takes
// the lag measurement's own events, so that building it does not replay
// what the other measurements appended.
var lagProjector = projections.Projector{
	Name:    "bench_lag",
	Version: 1,
	Schema:  `CREATE TABLE counts (stream text PRIMARY KEY, n bigint NOT NULL)`,
	Types:   []string{"BenchLag"},
	Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
		_, err := tx.Exec(ctx, `INSERT INTO counts (stream, n) VALUES ($1, 1) ON CONFLICT (stream) DO UPDATE SET n = counts.n + 1`, rec.StreamID)
		return err
	},
}

// ProjectionLag measures, while writers append single events without
// pause, how long after an append's commit a projections.Runner says
// (WaitFor, as a request reading its own write does) that a trivial read
// model shows it.
func ProjectionLag(writers int) Measurement {
	name := fmt.Sprintf("projection lag, %d writers", writers)
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		runner := projections.NewRunner(env.Store, slog.New(slog.DiscardHandler), lagProjector)
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		ran := make(chan error, 1)
		go func() { ran <- runner.Run(runCtx) }()
		defer func() { stop(); <-ran }()

		// Built and following before the clock starts.
		res, err := env.Store.Append(ctx, "bench-lag-warm-up", eventstore.Any, eventstore.Event{ID: uuid.New(), Type: "BenchLag", Data: eventData})
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = runner.WaitFor(wctx, res.LastPosition())
		cancel()
		if err != nil {
			return nil, err
		}

		checkpoint(ctx, env)
		var mu sync.Mutex
		var lags []time.Duration
		var waiters sync.WaitGroup
		var waitErr atomic.Value
		run := fmt.Sprintf("%d", time.Now().UnixNano())
		appended, err := rate(ctx, env, writers, func(w int) op {
			versions := make([]int64, streamsPerWriter)
			i := 0
			return func(ctx context.Context) (int, error) {
				k := i % streamsPerWriter
				i++
				stream := fmt.Sprintf("bench-lag-%s-w%d-s%d", run, w, k)
				res, err := env.Store.Append(ctx, stream, eventstore.Exactly(versions[k]),
					eventstore.Event{ID: uuid.New(), Type: "BenchLag", Data: eventData, Metadata: eventMetadata})
				if err != nil {
					return 0, err
				}
				committed := time.Now()
				versions[k] = res.Version
				waiters.Go(func() {
					wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
					defer cancel()
					if err := runner.WaitFor(wctx, res.LastPosition()); err != nil {
						waitErr.Store(err)
						return
					}
					lag := time.Since(committed)
					mu.Lock()
					lags = append(lags, lag)
					mu.Unlock()
				})
				return 1, nil
			}
		})
		if err != nil {
			return nil, err
		}
		waiters.Wait()
		if err, ok := waitErr.Load().(error); ok {
			return nil, err
		}
		if len(lags) == 0 {
			return nil, fmt.Errorf("no append to measure")
		}
		slices.Sort(lags)
		ms := func(q float64) float64 {
			return float64(lags[min(int(q*float64(len(lags))), len(lags)-1)]) / float64(time.Millisecond)
		}
		note := fmt.Sprintf("%d appends, %.0f events/s", len(lags), appended)
		return []Result{
			{Name: name + ", p50", Unit: "ms", Value: ms(0.50), Note: note},
			{Name: name + ", p99", Unit: "ms", Value: ms(0.99), Target: Below(50, "ms"), Note: fmt.Sprintf("max %.1f ms", ms(1))},
		}, nil
	}}
}
