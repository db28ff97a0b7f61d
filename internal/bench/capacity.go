package bench

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/internal/server"
	"selfcare/projections"
)

// ProjectorCapacity measures how many events per second the read models
// apply live, through their Handle (not a rebuild's bulk pass), beside the
// most the store appends: writers append single events at full speed for
// the measurement's duration while the projectors are stopped, then the
// projectors (the trivial read model of the lag measurements, which
// applies every one of them, and selfcare's read models, the audit chain
// sealing every one too) start and catch up. Capacity above the append
// rate is what lets them keep up (issue 9: no backlog that grows).
func ProjectorCapacity(writers int) Measurement {
	name := fmt.Sprintf("projector capacity vs %d writers' appends", writers)
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		keys, err := newKeys()
		if err != nil {
			return nil, err
		}
		ps := append([]projections.Projector{lagProjector}, server.Projectors(registry.All(), keys)...)
		// Built first, on what the other measurements appended.
		if err := projections.NewRunner(env.Store, slog.New(slog.DiscardHandler), ps...).Prepare(ctx); err != nil {
			return nil, err
		}
		from, err := env.Store.Head(ctx)
		if err != nil {
			return nil, err
		}
		run := fmt.Sprintf("cap-%d", time.Now().UnixNano())
		ops := make([]op, writers)
		for w := range ops {
			ops[w] = lagAppender(env, run, w, nil)
		}
		checkpoint(ctx, env)
		appendRate, err := rate(ctx, ops, warmUp, env.Duration)
		if err != nil {
			return nil, err
		}
		head, err := env.Store.Head(ctx)
		if err != nil {
			return nil, err
		}
		var events int64
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE position > $1 AND position <= $2`, from, head).Scan(&events); err != nil {
			return nil, err
		}

		runner := projections.NewRunner(env.Store, slog.New(slog.DiscardHandler), ps...)
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		ran := make(chan error, 1)
		start := time.Now()
		go func() { ran <- runner.Run(runCtx) }()
		defer func() { stop(); <-ran }()
		wctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		if err := runner.WaitForAll(wctx, head); err != nil {
			return nil, err
		}
		capacity := float64(events) / time.Since(start).Seconds()
		return []Result{{
			Name: name, Unit: "events/s", Value: capacity, Baseline: appendRate, Target: MinRatio(1),
			Note: fmt.Sprintf("%d events; every read model caught up, the audit chain included", events),
		}}, nil
	}}
}

// lagAppender appends single BenchLag events (the type the lag
// measurements' trivial read model applies) to streams of its own, and
// calls then (if not nil) after each append.
func lagAppender(env *Env, run string, writer int, then func(context.Context, eventstore.AppendResult)) op {
	versions := make([]int64, streamsPerWriter)
	i := 0
	return func(ctx context.Context) (int, error) {
		k := i % streamsPerWriter
		i++
		stream := fmt.Sprintf("bench-lag-%s-w%d-s%d", run, writer, k)
		res, err := env.Store.Append(ctx, stream, eventstore.Exactly(versions[k]),
			eventstore.Event{ID: uuid.New(), Type: "BenchLag", Data: eventData, Metadata: eventMetadata})
		if err != nil {
			return 0, err
		}
		versions[k] = res.Version
		if then != nil {
			then(ctx, res)
		}
		return 1, nil
	}
}
