package commands

import (
	"context"
	"errors"
	"time"

	"selfcare/domain/subscription"
	"selfcare/eventstore"
)

// DueSubscriptions finds the subscriptions whose start or end is due on a
// day and not recorded yet (a read model: it may lag, never lie for long).
type DueSubscriptions interface {
	Due(ctx context.Context, today subscription.Date, limit int) ([]string, error)
}

// Lifecycle is the scheduler that records SubscriptionStarted and
// SubscriptionEnded when their day comes by the clock (SPEC §6).
//
// Each event happens exactly once: a subscription is advanced in a
// transaction that appends at the version it loaded, so a second emission
// is a version conflict, whatever the number of processes and restarts.
// So that several processes share the work instead of racing for it, a
// process skips a subscription another one is advancing (a try-lock per
// stream). Starts and ends missed while no server ran are caught up on the
// first tick, since "due" means "on or before today and not recorded".
type Lifecycle struct {
	*App
	Due DueSubscriptions
	// Interval between ticks (default 30 s).
	Interval time.Duration
	// Batch is how many due subscriptions a tick reads at a time (default 100).
	Batch int
}

// SchedulerActor is the actor of the events the scheduler records.
const SchedulerActor = "system:scheduler"

// Run ticks until ctx ends: once at start, once the read models have
// caught up with the store so that nothing recorded is redone, then every
// Interval.
func (l *Lifecycle) Run(ctx context.Context) {
	interval := l.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	l.catchUpReadModels(ctx)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		if _, err := l.Tick(ctx); err != nil && ctx.Err() == nil {
			l.Logger.Error("subscription lifecycle: tick failed; retrying at the next one", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (l *Lifecycle) catchUpReadModels(ctx context.Context) {
	if l.ReadModels == nil {
		return
	}
	head, err := l.Store.Head(ctx)
	if err != nil {
		return
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := l.ReadModels.WaitFor(wctx, head); err != nil && ctx.Err() == nil {
		l.Logger.Warn("subscription lifecycle: starting before the read models caught up", "err", err)
	}
}

// Tick records every start and end due today (by the clock) and returns
// how many events it appended.
func (l *Lifecycle) Tick(ctx context.Context) (int, error) {
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Login: SchedulerActor})
	today := subscription.DateOf(l.Now())
	batch := l.Batch
	if batch <= 0 {
		batch = 100
	}
	total := 0
	var failed error
	seen := map[string]bool{}
	for ctx.Err() == nil {
		refs, err := l.Due.Due(ctx, today, batch)
		if err != nil {
			return total, err
		}
		fresh := 0
		var last int64
		for _, ref := range refs {
			if seen[ref] {
				continue // skipped or not yet visible in the read model
			}
			seen[ref] = true
			fresh++
			n, pos, err := l.advance(ctx, ref, today)
			if err != nil {
				// One broken subscription must not hold back the others.
				l.Logger.Error("subscription lifecycle: cannot advance", "subscription", ref, "err", err)
				failed = err
				continue
			}
			total += n
			last = max(last, pos)
		}
		if fresh == 0 || len(refs) < batch {
			return total, failed
		}
		// Let the read model show this batch before asking again.
		if last > 0 && l.ReadModels != nil {
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = l.ReadModels.WaitFor(wctx, last)
			cancel()
		}
	}
	return total, ctx.Err()
}

// Advance records what is due today for subscription ref, now, and returns
// how many events it appended (0 when nothing is due, when another process
// is at it, or when it just did it).
func (l *Lifecycle) Advance(ctx context.Context, ref string) (int, error) {
	ctx = WithActor(ctx, Actor{Kind: ActorSystem, Login: SchedulerActor})
	n, pos, err := l.advance(ctx, ref, subscription.DateOf(l.Now()))
	if pos > 0 {
		l.waitReadModels(ctx, pos)
	}
	return n, err
}

func (l *Lifecycle) advance(ctx context.Context, ref string, today subscription.Date) (int, int64, error) {
	stream := subscription.Stream(ref)
	var n int
	var last int64
	err := l.Store.Transact(ctx, func(tx *eventstore.Tx) error {
		ok, err := tryLockStream(ctx, tx, stream)
		if err != nil || !ok {
			return err
		}
		var sub subscription.Subscription
		version, err := l.Load(ctx, tx, stream, &sub)
		if err != nil || !sub.Exists() {
			return err
		}
		events, err := sub.Advance(today)
		if err != nil {
			return err
		}
		if _, err := l.Append(ctx, tx, stream, eventstore.Exactly(version), sub.Details().ContractID, events...); err != nil {
			return err
		}
		n, last = len(events), tx.LastPosition()
		return nil
	})
	if errors.Is(err, eventstore.ErrWrongExpectedVersion) {
		return 0, 0, nil // another writer recorded it first
	}
	if err != nil {
		return 0, 0, err
	}
	return n, last, nil
}
