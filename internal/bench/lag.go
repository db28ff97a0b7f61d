package bench

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/internal/server"
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

// ProjectionLag measures, while writers append single events (pausing
// pause after each), how long after an append's commit a
// projections.Runner says (WaitFor, as a request reading its own write
// does) that a trivial read model shows it. To tell the runtime's share
// from the store's, it also reports how long the append took to become
// visible to gap-safe readers at all (until older transactions in flight
// end), as seen by one poller every 2 ms: an upper bound. As with the
// rates, appends made during the writers' warm-up are not measured.
func ProjectionLag(writers int, pause time.Duration) Measurement {
	name := fmt.Sprintf("projection lag, %d writers", writers)
	if pause > 0 {
		name = fmt.Sprintf("projection lag, %d paced writers", writers)
	}
	return projectionLag(name, writers, pause, nil)
}

// ProjectionLagOfAllReadModels is ProjectionLag with writers at full
// speed and selfcare's read models running beside the trivial one, as in
// the server: the appends are of a type only the audit hash chain (which
// seals every event) handles. WaitFor does not wait for the chain (a
// background read model, as in the server), so this tells what the
// other read models, the chain above all, cost the lag a request sees.
func ProjectionLagOfAllReadModels(writers int) Measurement {
	return projectionLag(fmt.Sprintf("projection lag, all read models, %d writers", writers), writers, 0,
		func() ([]projections.Projector, error) {
			keys, err := newKeys()
			if err != nil {
				return nil, err
			}
			return server.Projectors(registry.All(), keys), nil
		})
}

func projectionLag(name string, writers int, pause time.Duration, readModels func() ([]projections.Projector, error)) Measurement {
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		ps := []projections.Projector{lagProjector}
		if readModels != nil {
			more, err := readModels()
			if err != nil {
				return nil, err
			}
			ps = append(ps, more...)
		}
		runner := projections.NewRunner(env.Store, slog.New(slog.DiscardHandler), ps...)
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		ran := make(chan error, 1)
		go func() { ran <- runner.Run(runCtx) }()
		defer func() { stop(); <-ran }()

		// Built, caught up and following before the clock starts: the
		// background audit chain too, which would otherwise spend the
		// measurement sealing the events of the measurements before this
		// one (a backlog this measurement's load did not make).
		res, err := env.Store.Append(ctx, "bench-lag-warm-up", eventstore.Any, eventstore.Event{ID: uuid.New(), Type: "BenchLag", Data: eventData})
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		err = runner.WaitForAll(wctx, res.LastPosition())
		cancel()
		if err != nil {
			return nil, err
		}

		var (
			mu      sync.Mutex
			applied []time.Duration // commit -> the runner's WaitFor returns
			visible []time.Duration // commit -> ReadPage may return it
			pending []appended      // not visible yet
			waitErr error
			waiters sync.WaitGroup
			// Appends committed before are the writers' warm-up (connections
			// opened, statements prepared): not measured, as in rate.
			measureFrom time.Time
		)
		watchCtx, stopWatching := context.WithCancel(ctx)
		watched := make(chan struct{})
		go func() { // one poller for all appends
			defer close(watched)
			for watchCtx.Err() == nil {
				head, err := env.Store.Head(watchCtx)
				now := time.Now()
				mu.Lock()
				if err == nil {
					pending = slices.DeleteFunc(pending, func(a appended) bool {
						if a.position > head {
							return false
						}
						if a.measured {
							visible = append(visible, now.Sub(a.committed))
						}
						return true
					})
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()

		run := fmt.Sprintf("%d", time.Now().UnixNano())
		ops := make([]op, writers)
		for w := range ops {
			ops[w] = lagAppender(env, run, w, func(ctx context.Context, res eventstore.AppendResult) {
				now := time.Now()
				a := appended{res.LastPosition(), now, !now.Before(measureFrom)}
				mu.Lock()
				pending = append(pending, a)
				mu.Unlock()

				waiters.Go(func() {
					wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
					defer cancel()
					err := runner.WaitFor(wctx, a.position)
					lag := time.Since(a.committed)
					mu.Lock()
					defer mu.Unlock()
					if err != nil {
						waitErr = err
						return
					}
					if a.measured {
						applied = append(applied, lag)
					}
				})
				time.Sleep(pause)
			})
		}
		checkpoint(ctx, env)
		measureFrom = time.Now().Add(warmUp)
		perSecond, err := rate(ctx, ops, warmUp, env.Duration)
		waiters.Wait()
		for {
			mu.Lock()
			left := len(pending)
			mu.Unlock()
			if left == 0 || err != nil {
				break
			}
			time.Sleep(10 * time.Millisecond) // all applied: visible too, once polled
		}
		stopWatching()
		<-watched
		if err == nil {
			err = waitErr
		}
		if err != nil {
			return nil, err
		}
		if len(applied) == 0 || len(visible) == 0 {
			return nil, fmt.Errorf("no append to measure")
		}
		slices.Sort(applied)
		slices.Sort(visible)
		note := fmt.Sprintf("%d appends, %.0f events/s", len(applied), perSecond)
		if pause > 0 {
			note += fmt.Sprintf(", each writer pausing %s after each append", pause)
		}
		return []Result{
			{Name: name + ", visible p50", Unit: "ms", Value: quantile(visible, 0.50), Note: "commit -> ReadPage can return it (upper bound)"},
			{Name: name + ", visible p99", Unit: "ms", Value: quantile(visible, 0.99)},
			{Name: name + ", p50", Unit: "ms", Value: quantile(applied, 0.50), Note: "commit -> read model shows it (WaitFor)"},
			{Name: name + ", p99", Unit: "ms", Value: quantile(applied, 0.99), Target: Below(50, "ms"),
				Note: fmt.Sprintf("max %.0f ms; %s", quantile(applied, 1), note)},
		}, nil
	}}
}

type appended struct {
	position  int64
	committed time.Time
	measured  bool // committed after the warm-up
}

// quantile returns the q-quantile of sorted durations, in milliseconds.
func quantile(sorted []time.Duration, q float64) float64 {
	i := min(int(q*float64(len(sorted))), len(sorted)-1)
	return float64(sorted[i]) / float64(time.Millisecond)
}
