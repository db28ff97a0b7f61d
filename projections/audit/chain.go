package audit

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
	"selfcare/projections"
)

// ChainName is the name of the hash-chain projector; its table is
// rm_audit_chain.chain.
const ChainName = "audit_chain"

// ChainKeyPurpose is the purpose under which the chain's HMAC key is
// derived from selfcare's secret (secrets.Keys.Derive).
const ChainKeyPurpose = "audit-chain"

const chainSchema = `
CREATE TABLE chain (
    position bigint PRIMARY KEY,
    hash     bytea  NOT NULL
);
`

// ChainProjector returns the projector that seals every event, in position
// order, into a hash chain under key:
//
//	h(n) = HMAC-SHA256(key, h(n-1) ‖ canonical(event n)),  h(0) = 32 zero bytes
//
// where canonical covers the event's position, id, stream, version, type,
// schema version, data, metadata and recorded time (see canonical). Each
// link is stored beside its position; Verify recomputes them from the
// events table. See the package comment for what this proves.
func ChainProjector(key []byte) projections.Projector {
	key = bytes.Clone(key)
	return projections.Projector{
		Name:    ChainName,
		Version: 1,
		Schema:  chainSchema,
		// Nothing reads the chain right after a write: verifying it reports
		// the events not sealed yet. So a write does not wait for it.
		Background: true,
		// Types empty: every event is chained.
		//
		// A batch at a time: each link needs the one before, so one event
		// at a time would read the database (and wait for the previous
		// link's insert) once per event, and the chain, which sees every
		// event, would be the slowest of the read models.
		Bulk: func() projections.Builder { return &chainBuilder{seal: newSealer(key), prev: genesis[:]} },
		HandleBatch: func(ctx context.Context, tx pgx.Tx, recs []eventstore.Record) error {
			// The link before the batch: the one read before any write.
			var prev []byte
			err := tx.QueryRow(ctx, `SELECT hash FROM chain ORDER BY position DESC LIMIT 1`).Scan(&prev)
			if errors.Is(err, pgx.ErrNoRows) {
				prev, err = genesis[:], nil
			}
			if err != nil {
				return fmt.Errorf("audit chain: the link before event %d: %w", recs[0].Position, err)
			}
			positions := make([]int64, len(recs))
			hashes := make([][]byte, len(recs))
			seal := newSealer(key)
			for i, rec := range recs {
				// Sealed as stored: the metadata's bytes, not the struct
				// decoded from them (which would drop unknown keys),
				// exactly as Verify reads them.
				if rec.RawMetadata == nil {
					return fmt.Errorf("audit chain: event %d was read without its stored metadata", rec.Position)
				}
				h, err := seal.link(prev, storedEvent{Position: rec.Position, EventID: rec.EventID, Stream: rec.StreamID,
					Version: rec.Version, Type: rec.Type, SchemaVersion: int32(rec.SchemaVersion), Data: rec.Data,
					Metadata: rec.RawMetadata, RecordedAt: rec.RecordedAt})
				if err != nil {
					return err
				}
				positions[i], hashes[i], prev = rec.Position, h, h
			}
			_, err = tx.Exec(ctx, `INSERT INTO chain (position, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`, positions, hashes)
			return err
		},
	}
}

// chainBuilder seals every event as a rebuild reads them, from the first:
// each link is final at once.
type chainBuilder struct {
	seal  *sealer
	prev  []byte
	links [][]any
}

func (b *chainBuilder) Apply(ev *projections.Stored) error {
	h, err := b.seal.link(b.prev, storedEvent{Position: ev.Position, EventID: ev.EventID, Stream: ev.StreamID, Version: ev.Version,
		Type: ev.Type, SchemaVersion: int32(ev.SchemaVersion), Data: ev.Data, Metadata: ev.RawMetadata, RecordedAt: ev.RecordedAt})
	if err != nil {
		return err
	}
	b.prev = h
	b.links = append(b.links, []any{ev.Position, h})
	return nil
}

func (b *chainBuilder) Rows(bool) []projections.Rows {
	out := []projections.Rows{{Table: "chain", Columns: []string{"position", "hash"}, Values: b.links}}
	b.links = nil
	return out
}

// genesis is h(0), the link before the first event.
var genesis [sha256.Size]byte

// storedEvent is a row of the events table as stored, metadata included
// verbatim.
type storedEvent struct {
	Position      int64
	EventID       uuid.UUID
	Stream        string
	Version       int64
	Type          string
	SchemaVersion int32
	Data          []byte
	Metadata      []byte
	RecordedAt    time.Time
}

// storedColumns are the columns of a storedEvent, from the events table
// aliased e.
const storedColumns = `e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, e.data, e.metadata, e.recorded_at`

// chainFormat starts every canonical encoding: a new format gets a new
// name (and a new projector version), never a silent reinterpretation.
const chainFormat = "selfcare/audit-chain/v1\x00"

// canonical is the byte string an event contributes to the chain: each
// field fixed-size or length-prefixed, so no two different events encode
// alike; data and metadata as canonical JSON (keys sorted, numbers as
// written), so the chain does not depend on how PostgreSQL prints jsonb;
// the time in microseconds since the epoch, PostgreSQL's precision.
func canonical(ev storedEvent) ([]byte, error) {
	var s sealer
	return s.canonical(ev)
}

// link returns h(n) from h(n-1) and event n.
func link(key, prev []byte, ev storedEvent) ([]byte, error) {
	return newSealer(key).link(prev, ev)
}

// sealer computes links one after the other, reusing its buffers and its
// HMAC state: a walk over millions of events allocates per event only the
// link it keeps.
type sealer struct {
	mac  hash.Hash
	buf  []byte // canonical(event)
	json []byte // canonical JSON of data and metadata, one after the other
	enc  canonicalizer
}

func newSealer(key []byte) *sealer {
	return &sealer{mac: hmac.New(sha256.New, key)}
}

func (s *sealer) canonical(ev storedEvent) ([]byte, error) {
	var err error
	s.json, err = s.enc.appendValid(s.json[:0], ev.Data) // from jsonb
	if err != nil {
		return nil, fmt.Errorf("audit chain: data of event %d: %w", ev.Position, err)
	}
	dataEnd := len(s.json)
	s.json, err = s.enc.appendValid(s.json, ev.Metadata)
	if err != nil {
		return nil, fmt.Errorf("audit chain: metadata of event %d: %w", ev.Position, err)
	}
	data, meta := s.json[:dataEnd], s.json[dataEnd:]
	b := append(s.buf[:0], chainFormat...)
	str := func(b, s []byte) []byte {
		return append(binary.BigEndian.AppendUint64(b, uint64(len(s))), s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Position))
	b = append(b, ev.EventID[:]...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(ev.Stream)))
	b = append(b, ev.Stream...)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.Version))
	b = binary.BigEndian.AppendUint64(b, uint64(len(ev.Type)))
	b = append(b, ev.Type...)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.SchemaVersion))
	b = str(b, data)
	b = str(b, meta)
	b = binary.BigEndian.AppendUint64(b, uint64(ev.RecordedAt.UnixMicro()))
	s.buf = b
	return b, nil
}

// link returns h(n) from h(n-1) and event n, in a new slice.
func (s *sealer) link(prev []byte, ev storedEvent) ([]byte, error) {
	c, err := s.canonical(ev)
	if err != nil {
		return nil, err
	}
	s.mac.Reset()
	s.mac.Write(prev)
	s.mac.Write(c)
	return s.mac.Sum(make([]byte, 0, sha256.Size)), nil
}
