// Package commands is selfcare's command side: each command loads the streams it
// decides on, asks the domain to decide, and appends the resulting events
// (with who/where metadata) in one transaction. Then either it waits until
// the read models show them, so that the caller can read its own writes,
// or, when the caller carries Positions (HTTP requests), it records the
// position of its last event for the client to wait on at its next read.
package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	"selfcare/domain"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/internal/clock"
)

// Actor kinds.
const (
	ActorUser     = "user"
	ActorOperator = "operator"
	ActorAuditor  = "auditor"
	ActorSystem   = "system"
)

// Actor is who issues a command and from where; it becomes the metadata of
// the events the command appends.
type Actor struct {
	Kind          string
	Login         string // user login; "operator"; "system:<part>"
	IP            string
	RequestID     string
	CorrelationID string
	CausationID   string
}

type actorKey struct{}

// WithActor attaches the actor to ctx.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor attached to ctx (the zero Actor if none).
func ActorFrom(ctx context.Context) Actor {
	a, _ := ctx.Value(actorKey{}).(Actor)
	return a
}

// Waiter is the read side's promise to catch up with a position.
type Waiter interface {
	WaitFor(ctx context.Context, position int64) error
}

// App carries what every command needs.
type App struct {
	Store    *eventstore.Store
	Registry *registry.Registry
	Clock    clock.Clock
	Logger   *slog.Logger
	// ReadModels, if set, is waited for after each command (bounded by
	// ReadYourWritesTimeout) so that a client reads its own writes.
	ReadModels            Waiter
	ReadYourWritesTimeout time.Duration
	// Observe, if set, is told how each command went: its outcome
	// ("ok", "conflict", "invalid", "error"), how long its transaction took
	// (retries included) and how long it then waited for the read models.
	Observe func(outcome string, decide, readYourWrites time.Duration)
	// Loaded, if set, is told how many events each Load read from stream
	// (tests count them).
	Loaded func(stream string, events int)
}

// Aggregate is anything folded from its stream's events.
type Aggregate interface {
	Apply(e domain.Event)
}

// Load folds stream into agg and returns the stream's version (0 when the
// stream does not exist yet, which is not an error here). An aggregate
// that can be snapshotted (Snapshotted) is folded from its latest snapshot
// and the events after it, and a new snapshot is written in tx once
// SnapshotEvery events were folded past the last one: a command on a long
// stream folds at most SnapshotEvery events.
func (a *App) Load(ctx context.Context, tx *eventstore.Tx, stream string, agg Aggregate) (int64, error) {
	if s, ok := agg.(Snapshotted); ok {
		return a.loadSnapshotted(ctx, tx, stream, s)
	}
	recs, err := tx.Load(ctx, stream, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	a.loaded(stream, len(recs))
	return a.Fold(recs, agg)
}

func (a *App) loaded(stream string, events int) {
	if a.Loaded != nil {
		a.Loaded(stream, events)
	}
}

// Fold applies stored records to agg and returns the last version.
func (a *App) Fold(recs []eventstore.Record, agg Aggregate) (int64, error) {
	var version int64
	for _, rec := range recs {
		e, err := a.Decode(rec)
		if err != nil {
			return 0, err
		}
		agg.Apply(e)
		version = rec.Version
	}
	return version, nil
}

// Decode turns a stored record into its domain event.
func (a *App) Decode(rec eventstore.Record) (domain.Event, error) {
	e, err := a.Registry.Decode(rec.Type, rec.SchemaVersion, rec.Data)
	if err != nil {
		return nil, fmt.Errorf("event %d of %s: %w", rec.Position, rec.StreamID, err)
	}
	return e, nil
}

// Append encodes events with the actor's metadata and appends them.
func (a *App) Append(ctx context.Context, tx *eventstore.Tx, stream string, expected eventstore.Expectation, contract string, events ...domain.Event) (eventstore.AppendResult, error) {
	if len(events) == 0 {
		return eventstore.AppendResult{}, nil
	}
	envs, err := a.Envelopes(ctx, contract, events...)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	return tx.Append(ctx, stream, expected, envs...)
}

// Envelopes encodes domain events for the store, with metadata from ctx.
func (a *App) Envelopes(ctx context.Context, contract string, events ...domain.Event) ([]eventstore.Event, error) {
	actor := ActorFrom(ctx)
	md := eventstore.Metadata{
		Actor:         actor.Login,
		ActorKind:     actor.Kind,
		Contract:      contract,
		CorrelationID: actor.CorrelationID,
		CausationID:   actor.CausationID,
		RequestID:     actor.RequestID,
		SourceIP:      actor.IP,
	}
	if md.CorrelationID == "" {
		md.CorrelationID = actor.RequestID
	}
	out := make([]eventstore.Event, len(events))
	for i, e := range events {
		data, err := json.Marshal(e)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", e.EventType(), err)
		}
		if !a.Registry.Known(e.EventType()) {
			return nil, fmt.Errorf("event type %q is not in the registry", e.EventType())
		}
		id, err := uuid.NewV7()
		if err != nil {
			return nil, err
		}
		out[i] = eventstore.Event{
			ID:            id,
			Type:          e.EventType(),
			SchemaVersion: a.Registry.Version(e.EventType()),
			Data:          data,
			Metadata:      md,
		}
	}
	return out, nil
}

// Policy says how a command reacts to a concurrent change of its streams.
type Policy int

const (
	// FailOnConflict reports a concurrent change (409): for edits a user
	// decided on what they saw, which must not silently overwrite another.
	FailOnConflict Policy = iota
	// RetryOnConflict decides again on the new state: for commands whose
	// outcome does not depend on what the user saw (a new order number).
	RetryOnConflict
)

// Execute runs a command's transaction. With RetryOnConflict, a version
// conflict re-runs fn on fresh state. After the commit it waits (bounded)
// for the read models to show the appended events, and returns the
// position of the last one.
//
// When ctx carries Positions (WithPositions), the position is recorded
// there instead, and Execute does not wait: the caller's client will.
func (a *App) Execute(ctx context.Context, policy Policy, fn func(tx *eventstore.Tx) error) (int64, error) {
	start := time.Now()
	last, err := a.execute(ctx, policy, fn)
	decided := time.Since(start)
	if err == nil {
		if p := positionsFrom(ctx); p != nil {
			p.record(last)
		} else {
			a.waitReadModels(ctx, last)
		}
	}
	if a.Observe != nil {
		a.Observe(outcome(err), decided, time.Since(start)-decided)
	}
	return last, err
}

// outcome classifies a command's result for metrics.
func outcome(err error) string {
	var ve *domain.ValidationError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &ve):
		return "invalid"
	case errors.Is(err, eventstore.ErrWrongExpectedVersion), errors.Is(err, domain.ErrConflict):
		return "conflict"
	case errors.Is(err, domain.ErrNotFound), errors.Is(err, domain.ErrForbidden), errors.Is(err, domain.ErrGone), errors.Is(err, domain.ErrUnauthenticated):
		return "refused"
	default:
		return "error"
	}
}

func (a *App) execute(ctx context.Context, policy Policy, fn func(tx *eventstore.Tx) error) (int64, error) {
	var last int64
	for attempt := 0; ; attempt++ {
		err := a.Store.Transact(ctx, func(tx *eventstore.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			if err := markIdempotent(ctx, tx); err != nil {
				return err
			}
			last = tx.LastPosition()
			return nil
		})
		if err != nil && policy == RetryOnConflict && errors.Is(err, eventstore.ErrWrongExpectedVersion) && attempt < 20 {
			continue
		}
		if err != nil {
			return 0, err
		}
		return last, nil
	}
}

func (a *App) waitReadModels(ctx context.Context, pos int64) {
	if a.ReadModels == nil || pos == 0 {
		return
	}
	timeout := a.ReadYourWritesTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := a.ReadModels.WaitFor(wctx, pos); err != nil {
		a.Logger.Warn("read models did not catch up with a command in time", "position", pos, "err", err)
	}
}

// Now is the command's time.
func (a *App) Now() time.Time { return a.Clock.Now() }
