package commands

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
)

// Snapshotted is an aggregate whose state can be saved and restored, so
// that a long stream need not be folded from its first event. The domain
// package of the aggregate owns the encoding; the event store keeps it as
// opaque bytes under (stream, SnapshotKind) with SnapshotSchema, and a
// snapshot of another schema is never read: bump the schema whenever the
// aggregate's state or its Apply changes, and the streams are folded anew.
type Snapshotted interface {
	Aggregate
	SnapshotKind() string
	SnapshotSchema() int
	MarshalSnapshot() ([]byte, error)
	// UnmarshalSnapshot restores the state, or leaves the aggregate
	// unchanged and returns an error.
	UnmarshalSnapshot(data []byte) error
}

// versioned aggregates count the events they folded: a snapshot whose
// count disagrees with the stream version it was saved at is not trusted.
type versioned interface {
	Version() int
}

// SnapshotEvery is how many events a Load folds past the latest snapshot
// before it writes a new one.
const SnapshotEvery = 16

func (a *App) loadSnapshotted(ctx context.Context, tx *eventstore.Tx, stream string, agg Snapshotted) (int64, error) {
	snap, recs, err := tx.LoadSnapshot(ctx, stream, agg.SnapshotKind(), agg.SnapshotSchema())
	if err != nil {
		return 0, err
	}
	return a.foldSnapshotted(ctx, tx, stream, agg, snap, recs)
}

// foldSnapshotted restores agg from snap (unless it is not to be trusted),
// folds recs on top, and saves a new snapshot when due.
func (a *App) foldSnapshotted(ctx context.Context, tx *eventstore.Tx, stream string, agg Snapshotted, snap *eventstore.Snapshot, recs []eventstore.Record) (int64, error) {
	kind := agg.SnapshotKind()
	var err error
	var version int64
	untrusted := false
	if snap != nil {
		if err := a.restore(agg, snap); err != nil {
			// Never trust a snapshot that does not restore: fold the whole
			// stream, and replace the snapshot below.
			a.Logger.Warn("snapshot not trusted: folding its stream from the start", "stream", stream, "kind", kind, "version", snap.Version, "err", err)
			untrusted = true
			recs, err = tx.Load(ctx, stream, 0)
			if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
				return 0, err
			}
		} else {
			version = snap.Version
		}
	}
	a.loaded(stream, len(recs))
	if len(recs) > 0 {
		if version, err = a.Fold(recs, agg); err != nil {
			return 0, err
		}
	}
	if version > 0 && (len(recs) >= SnapshotEvery || untrusted) {
		if err := a.saveSnapshot(ctx, tx, stream, agg, version); err != nil {
			return 0, err
		}
	}
	return version, nil
}

// restore restores agg from snap, checking what can be checked.
// On error agg is as it was before.
func (a *App) restore(agg Snapshotted, snap *eventstore.Snapshot) error {
	initial, err := agg.MarshalSnapshot()
	if err != nil {
		return err
	}
	if err := agg.UnmarshalSnapshot(snap.Data); err != nil {
		return err
	}
	if v, ok := agg.(versioned); ok && int64(v.Version()) != snap.Version {
		if err := agg.UnmarshalSnapshot(initial); err != nil {
			return fmt.Errorf("%s: cannot restore its initial state: %w", agg.SnapshotKind(), err)
		}
		return fmt.Errorf("the snapshot counts %d events, saved at stream version %d", v.Version(), snap.Version)
	}
	return nil
}

func (a *App) saveSnapshot(ctx context.Context, tx *eventstore.Tx, stream string, agg Snapshotted, version int64) error {
	data, err := agg.MarshalSnapshot()
	if err != nil {
		return fmt.Errorf("snapshot of %s: %w", stream, err)
	}
	return tx.SaveSnapshot(ctx, stream, eventstore.Snapshot{Kind: agg.SnapshotKind(), Schema: agg.SnapshotSchema(), Version: version, Data: data})
}

// Loading is one stream to fold in LoadAll, and where to put its version.
type Loading struct {
	Stream  string
	Agg     Aggregate
	Version *int64 // may be nil
}

// LoadAll takes the advisory locks of the streams in lock (see
// lockStream), then folds every loading, as Load does, in one round trip
// to the database instead of one per statement: for a command that
// decides on several streams.
func (a *App) LoadAll(ctx context.Context, tx *eventstore.Tx, lock []string, loads ...Loading) error {
	b := &pgx.Batch{}
	for _, stream := range lock {
		b.Queue(lockSQL, stream)
	}
	results := make([]eventstore.SnapshotLoad, len(loads))
	for i, l := range loads {
		kind, schema := "", 0 // no snapshot: the whole stream
		if s, ok := l.Agg.(Snapshotted); ok {
			kind, schema = s.SnapshotKind(), s.SnapshotSchema()
		}
		eventstore.QueueLoadSnapshot(b, l.Stream, kind, schema, &results[i])
	}
	if err := tx.Pgx().SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("load %d streams: %w", len(loads), err)
	}
	for i, l := range loads {
		var version int64
		var err error
		if s, ok := l.Agg.(Snapshotted); ok {
			version, err = a.foldSnapshotted(ctx, tx, l.Stream, s, results[i].Snapshot, results[i].Records)
		} else {
			a.loaded(l.Stream, len(results[i].Records))
			version, err = a.Fold(results[i].Records, l.Agg)
		}
		if err != nil {
			return err
		}
		if l.Version != nil {
			*l.Version = version
		}
	}
	return nil
}
