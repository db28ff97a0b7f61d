package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/eventstore"
)

// A Builder builds a read model from the first event on, in memory, for a
// rebuild: applying events one statement at a time costs the database a
// statement per event (tens of thousands of events a second at best),
// where folding them in memory and copying the resulting rows costs a
// fraction of that. It must give exactly the tables Handle would
// (TestBulkRebuildEqualsTheLiveReadModels holds every read model to it);
// the events after the bulk pass go through Handle as usual.
type Builder interface {
	// Apply folds in the next event of the projector's Types, in
	// position order.
	Apply(ev *Stored) error
	// Rows hands over rows to copy into the read model's tables and
	// forgets them: with final false, rows no later event can change
	// (it may return none); with final true, all the rest.
	Rows(final bool) []Rows
}

// Stored is an event as the bulk pass reads it: its record, and its
// metadata exactly as stored (the audit chain seals those bytes).
type Stored struct {
	eventstore.Record
	RawMetadata []byte
}

// Rows are rows for one table of a read model, in the order of Columns.
type Rows struct {
	Table   string
	Columns []string
	Values  [][]any
}

// DecodedBuilder is a Builder made of a fold over decoded events and its
// rows: what most read models do.
func DecodedBuilder(reg Decoder, apply func(ev *Stored, e domain.Event) error, rows func(final bool) []Rows) Builder {
	return decodedBuilder{reg: reg, apply: apply, rows: rows}
}

type decodedBuilder struct {
	reg   Decoder
	apply func(*Stored, domain.Event) error
	rows  func(bool) []Rows
}

func (b decodedBuilder) Apply(ev *Stored) error {
	e, err := b.reg.Decode(ev.Type, ev.SchemaVersion, ev.Data)
	if err != nil {
		return err
	}
	return b.apply(ev, e)
}

func (b decodedBuilder) Rows(final bool) []Rows { return b.rows(final) }

// bulkTarget is one read model a bulk pass builds: its projector, its
// shadow schema, its builder and its progress.
type bulkTarget struct {
	p       Projector
	shadow  string
	builder Builder
	types   map[string]bool // nil: every event
	applied int64
}

// bulkEvery is how many events the bulk pass reads between two hand-overs
// of final rows to the writer.
const bulkEvery = 10_000

// copyTxRows bounds the rows one copy transaction writes: it holds a
// transaction id, and so holds back every gap-safe reader, while it runs.
const copyTxRows = 20_000

// bulkPass folds the events after position from, up to and including
// head, into every target's builder, in one read of the event store, and
// copies the rows they give into their shadow schemas. The writes go in
// short transactions beside the read, each a fraction of a second.
func (r *Runner) bulkPass(ctx context.Context, targets []*bulkTarget, from, head int64, report func(t *bulkTarget)) error {
	if len(targets) == 0 || head <= from {
		return nil
	}
	var types []string // nil: every event
	for _, t := range targets {
		if t.types == nil {
			types = nil
			break
		}
		for typ := range t.types {
			if !slices.Contains(types, typ) {
				types = append(types, typ)
			}
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	batches := make(chan copyBatch, 4)
	written := make(chan error, 1)
	go func() {
		var err error
		for b := range batches {
			if err == nil {
				if err = r.copyRows(ctx, b); err != nil {
					cancel(err)
				}
			}
		}
		written <- err
	}()
	readErr := r.readBulk(ctx, targets, types, from, head, batches, report)
	close(batches)
	if err := <-written; err != nil {
		return err
	}
	if readErr != nil {
		if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
			return cause
		}
		return readErr
	}
	return nil
}

// copyBatch is rows for the shadow schemas of some read models.
type copyBatch []shadowRows

type shadowRows struct {
	shadow string
	rows   Rows
}

func (r *Runner) readBulk(ctx context.Context, targets []*bulkTarget, types []string, from, head int64, out chan<- copyBatch, report func(*bulkTarget)) error {
	var filter []string
	if types != nil {
		filter = types
	}
	rows, err := r.store.Pool().Query(ctx, `
SELECT position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at
FROM events WHERE position > $1 AND position <= $2 AND ($3::text[] IS NULL OR event_type = ANY($3))
ORDER BY position`, from, head, filter)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	hand := func(final bool) error {
		var batch copyBatch
		n := 0
		for _, t := range targets {
			for _, rs := range t.builder.Rows(final) {
				for len(rs.Values) > 0 {
					k := min(len(rs.Values), copyTxRows-n)
					batch = append(batch, shadowRows{shadow: t.shadow, rows: Rows{Table: rs.Table, Columns: rs.Columns, Values: rs.Values[:k]}})
					rs.Values = rs.Values[k:]
					if n += k; n == copyTxRows {
						if err := send(ctx, out, batch); err != nil {
							return err
						}
						batch, n = nil, 0
					}
				}
			}
			report(t)
		}
		if len(batch) > 0 {
			return send(ctx, out, batch)
		}
		return nil
	}
	var ev Stored
	var id uuid.UUID
	var schemaVersion int32
	read := 0
	for rows.Next() {
		ev = Stored{}
		if err := rows.Scan(&ev.Position, &id, &ev.StreamID, &ev.Version, &ev.Type, &schemaVersion, &ev.Data, &ev.RawMetadata, &ev.RecordedAt); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		ev.EventID, ev.SchemaVersion, ev.RecordedAt = id, int(schemaVersion), ev.RecordedAt.UTC()
		if err := json.Unmarshal(ev.RawMetadata, &ev.Metadata); err != nil {
			return fmt.Errorf("metadata of event %d: %w", ev.Position, err)
		}
		for _, t := range targets {
			if t.types != nil && !t.types[ev.Type] {
				continue
			}
			if err := t.builder.Apply(&ev); err != nil {
				return eventError(t.p.Name, ev.Record, err)
			}
			t.applied++
		}
		if read++; read%bulkEvery == 0 {
			if err := hand(false); err != nil {
				return err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	return hand(true)
}

func send(ctx context.Context, out chan<- copyBatch, b copyBatch) error {
	select {
	case out <- b:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// copyRows copies a batch of rows into shadow schemas in one short
// transaction, committed without waiting for the WAL flush: a crash loses
// the shadow, which the next rebuild drops.
func (r *Runner) copyRows(ctx context.Context, b copyBatch) error {
	start := time.Now()
	err := pgx.BeginFunc(ctx, r.store.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'off', true)`); err != nil {
			return err
		}
		for _, s := range b {
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{s.shadow, s.rows.Table}, s.rows.Columns, pgx.CopyFromRows(s.rows.Values)); err != nil {
				return fmt.Errorf("copy into %s: %w", s.rows.Table, err)
			}
		}
		return nil
	})
	if d := time.Since(start); d > time.Second {
		r.logger.Warn("a rebuild's copy transaction was long", "took", d)
	}
	return err
}
