package commands

import (
	"context"
	"errors"
	"fmt"

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
	kind, schema := agg.SnapshotKind(), agg.SnapshotSchema()
	snap, recs, err := tx.LoadSnapshot(ctx, stream, kind, schema)
	if err != nil {
		return 0, err
	}
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
