package eventstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// Snapshot is the state of an aggregate at a version of its stream, encoded
// by the aggregate's owner: the store keeps Data as opaque bytes. Kind
// names the aggregate (one stream may be folded into several kinds) and
// Schema the encoding of its state; a snapshot of another schema than the
// one asked for is never returned.
type Snapshot struct {
	Kind    string
	Schema  int
	Version int64
	Data    []byte
}

// LoadSnapshot reads, in this transaction and in one statement, the
// snapshot of stream of the given kind and schema (nil when there is none)
// and the stream's events after it, in version order. Without a snapshot
// the events are the whole stream (kind "" never has one); a stream
// without events is not an error here (nil, nil, nil).
func (t *Tx) LoadSnapshot(ctx context.Context, stream, kind string, schema int) (*Snapshot, []Record, error) {
	rows, err := t.tx.Query(ctx, loadSnapshotSQL, stream, kind, schema)
	if err != nil {
		return nil, nil, fmt.Errorf("eventstore: load %q from its snapshot: %w", stream, err)
	}
	res, err := scanSnapshotLoad(rows, stream, kind, schema)
	return res.Snapshot, res.Records, err
}

// SnapshotLoad is what a queued LoadSnapshot read.
type SnapshotLoad struct {
	Snapshot *Snapshot
	Records  []Record
}

// QueueLoadSnapshot queues LoadSnapshot's statement in b, so that several
// loads (and the locks before them) cost one round trip: out is set once
// the batch's results are read (BatchResults.Close). Send b in the
// transaction (Tx.Pgx().SendBatch).
func QueueLoadSnapshot(b *pgx.Batch, stream, kind string, schema int, out *SnapshotLoad) {
	b.Queue(loadSnapshotSQL, stream, kind, schema).Query(func(rows pgx.Rows) error {
		res, err := scanSnapshotLoad(rows, stream, kind, schema)
		*out = res
		return err
	})
}

const loadSnapshotSQL = `
WITH s AS MATERIALIZED (
    SELECT stream_version, data FROM snapshots WHERE stream_id = $1 AND kind = $2 AND schema_version = $3
)
SELECT * FROM (
    SELECT 0 AS part, 0::bigint AS position, '00000000-0000-0000-0000-000000000000'::uuid AS event_id, $1::text AS stream_id, s.stream_version, ''::text AS event_type,
           0 AS schema_version, NULL::jsonb AS data, NULL::jsonb AS metadata, NULL::timestamptz AS recorded_at, s.data AS snapshot
    FROM s
    UNION ALL
    SELECT 1, ` + recordColumns + `, NULL::bytea FROM events
    WHERE stream_id = $1 AND stream_version > coalesce((SELECT stream_version FROM s), 0)
) r ORDER BY part, stream_version`

// scanSnapshotLoad reads the rows of loadSnapshotSQL, and closes them.
func scanSnapshotLoad(rows pgx.Rows, stream, kind string, schema int) (SnapshotLoad, error) {
	defer rows.Close()
	var res SnapshotLoad
	for rows.Next() {
		var part int
		var r Record
		var sv int32
		var data, meta, snap []byte // as bytes: into a json.RawMessage the driver would check the JSON again
		var at *time.Time
		if err := rows.Scan(&part, &r.Position, &r.EventID, &r.StreamID, &r.Version, &r.Type, &sv, &data, &meta, &at, &snap); err != nil {
			return SnapshotLoad{}, fmt.Errorf("eventstore: load %q from its snapshot: %w", stream, err)
		}
		if part == 0 {
			res.Snapshot = &Snapshot{Kind: kind, Schema: schema, Version: r.Version, Data: snap}
			continue
		}
		r.Data, r.SchemaVersion = data, int(sv)
		r.RecordedAt = at.UTC()
		if err := json.Unmarshal(meta, &r.Metadata); err != nil {
			return SnapshotLoad{}, fmt.Errorf("eventstore: load %q: metadata of %d: %w", stream, r.Position, err)
		}
		res.Records = append(res.Records, r)
	}
	if err := rows.Err(); err != nil {
		return SnapshotLoad{}, fmt.Errorf("eventstore: load %q from its snapshot: %w", stream, err)
	}
	return res, nil
}

// SaveSnapshot stores s as the snapshot of stream in this transaction,
// replacing one of the same kind at the same or a lower version (or of
// another schema). It never waits: when another transaction in flight is
// saving a snapshot of the same stream and kind, this one is skipped (a
// snapshot is only a cache). The caller vouches that s.Data is the state
// of the events of stream up to s.Version, all of them already stored.
func (t *Tx) SaveSnapshot(ctx context.Context, stream string, s Snapshot) error {
	if s.Kind == "" || s.Version <= 0 {
		return errors.New("eventstore: a snapshot needs a kind and a version")
	}
	_, err := t.tx.Exec(ctx, `
INSERT INTO snapshots (stream_id, kind, schema_version, stream_version, data, taken_at)
SELECT $1::text, $2::text, $3::int, $4::bigint, $5::bytea, $6::timestamptz
WHERE pg_try_advisory_xact_lock(hashtextextended('snapshot:' || $2::text || ':' || $1::text, 0))
ON CONFLICT (stream_id, kind) DO UPDATE
SET schema_version = EXCLUDED.schema_version, stream_version = EXCLUDED.stream_version, data = EXCLUDED.data, taken_at = EXCLUDED.taken_at
WHERE snapshots.stream_version <= EXCLUDED.stream_version OR snapshots.schema_version <> EXCLUDED.schema_version`,
		stream, s.Kind, s.Schema, s.Version, s.Data, t.store.clock.Now())
	if err != nil {
		return fmt.Errorf("eventstore: snapshot of %q: %w", stream, err)
	}
	return nil
}

// LoadVersions reads the events of stream at the given versions, in
// version order, and the stream's current version, in one statement: for
// an aggregate whose events are a few known ones of a long stream (an
// order in its contract's order stream).
func (t *Tx) LoadVersions(ctx context.Context, stream string, versions []int64) ([]Record, int64, error) {
	var current int64
	if err := t.tx.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, stream).Scan(&current); err != nil {
		return nil, 0, fmt.Errorf("eventstore: version of %q: %w", stream, err)
	}
	if len(versions) == 0 {
		return nil, current, nil
	}
	rows, err := t.tx.Query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 AND stream_version = ANY($2) ORDER BY stream_version`, stream, versions)
	if err != nil {
		return nil, 0, fmt.Errorf("eventstore: load %q: %w", stream, err)
	}
	recs, err := collectRecords(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("eventstore: load %q: %w", stream, err)
	}
	return recs, current, nil
}
