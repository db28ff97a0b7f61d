package projections

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"golang.org/x/sync/errgroup"

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
// metadata exactly as stored (the audit chain seals those bytes). The
// record's Metadata is left empty (most read models do not read it, and
// decoding it for each of millions of events would cost a rebuild more
// than their own work): DecodeMetadata decodes it. Builders share it, and
// must not change it.
type Stored struct {
	eventstore.Record
	RawMetadata []byte

	decoded    domain.Event // by the bulk pass, for every DecodedBuilder
	decodedErr error
}

// DecodeMetadata returns ev's record with its Metadata decoded.
func (ev *Stored) DecodeMetadata() (eventstore.Record, error) {
	rec := ev.Record
	if err := json.Unmarshal(ev.RawMetadata, &rec.Metadata); err != nil {
		return rec, fmt.Errorf("metadata: %w", err)
	}
	return rec, nil
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

// Apply hands apply the event decoded by the bulk pass: once, whichever
// read models handle it (orders and subscriptions an OrderPlaced), with
// the one registry every read model decodes with.
func (b decodedBuilder) Apply(ev *Stored) error {
	if ev.decodedErr != nil {
		return ev.decodedErr
	}
	if ev.decoded == nil { // not through a bulk pass
		e, err := b.reg.Decode(ev.Type, ev.SchemaVersion, ev.Data)
		if err != nil {
			return err
		}
		return b.apply(ev, e)
	}
	return b.apply(ev, ev.decoded)
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
	in      chan []*Stored
}

func (t *bulkTarget) handles(typ string) bool { return t.types == nil || t.types[typ] }

// bulkEvery is how many events a read model folds in between two
// hand-overs of final rows to the writer.
const bulkEvery = 10_000

// copyTxRows bounds the rows one copy transaction writes: it holds a
// transaction id, and so holds back every gap-safe reader, while it runs.
const copyTxRows = 20_000

// readBatch is how many events go down the pipeline at a time.
const readBatch = 500

// decoders is how many goroutines decode events in a bulk pass.
var decoders = max(2, runtime.GOMAXPROCS(0))

// bulkPass folds the events after position from, up to and including
// head, into every target's builder, in one read of the event store, and
// copies the rows they give into their shadow schemas.
//
// It is a pipeline, so that a rebuild uses every core: one goroutine
// reads the events, one decodes them (once, whichever read models need
// them), one per read model folds them in, and one copies the rows, in
// short transactions beside the read.
func (r *Runner) bulkPass(ctx context.Context, targets []*bulkTarget, from, head int64, report func(t *bulkTarget)) error {
	if len(targets) == 0 || head <= from {
		return nil
	}
	var types []string // nil: every event
	var reg Decoder
	decode := map[string]bool{} // types a decoding builder handles
	for _, t := range targets {
		if d, ok := t.builder.(decodedBuilder); ok {
			reg = d.reg
			for _, typ := range t.p.Types {
				decode[typ] = true
			}
		}
	}
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
	g, ctx := errgroup.WithContext(ctx)
	read := make(chan []*Stored, 8)
	copies := make(chan copyBatch, 4)
	g.Go(func() error {
		defer close(read)
		return r.readBulk(ctx, types, from, head, read)
	})
	// Decoding is the costliest step (an invoice's lines, amounts parsed
	// one by one): several goroutines decode batches, and one hands them
	// to every read model in the order they were read.
	type decoding struct {
		batch []*Stored
		done  chan struct{}
	}
	inOrder, toDecode := make(chan decoding, 2*decoders), make(chan decoding, decoders)
	g.Go(func() error {
		defer close(inOrder)
		defer close(toDecode)
		for batch := range read {
			d := decoding{batch: batch, done: make(chan struct{})}
			if err := send(ctx, inOrder, d); err != nil {
				return err
			}
			if err := send(ctx, toDecode, d); err != nil {
				return err
			}
		}
		return nil
	})
	for range decoders {
		g.Go(func() error {
			for d := range toDecode {
				for _, ev := range d.batch {
					if reg != nil && decode[ev.Type] {
						ev.decoded, ev.decodedErr = reg.Decode(ev.Type, ev.SchemaVersion, ev.Data)
					}
				}
				close(d.done)
			}
			return nil
		})
	}
	g.Go(func() error { // hand each batch to every read model, in order
		defer func() {
			for _, t := range targets {
				close(t.in)
			}
		}()
		for d := range inOrder {
			select {
			case <-d.done:
			case <-ctx.Done():
				return ctx.Err()
			}
			for _, t := range targets {
				if err := send(ctx, t.in, d.batch); err != nil {
					return err
				}
			}
		}
		return nil
	})
	var folding sync.WaitGroup
	var reporting sync.Mutex
	reportSafely := func(t *bulkTarget) {
		reporting.Lock()
		defer reporting.Unlock()
		report(t)
	}
	for _, t := range targets {
		folding.Add(1)
		g.Go(func() error {
			defer folding.Done()
			err := t.fold(ctx, copies, reportSafely)
			reportSafely(t)
			return err
		})
	}
	g.Go(func() error {
		folding.Wait()
		close(copies)
		return nil
	})
	g.Go(func() error {
		for b := range copies {
			if err := r.copyRows(ctx, b); err != nil {
				return err
			}
		}
		return nil
	})
	return g.Wait()
}

// fold applies the batches of events t handles, handing its final rows
// to copies and reporting its progress every bulkEvery events, and all
// the rest at the end.
func (t *bulkTarget) fold(ctx context.Context, copies chan<- copyBatch, report func(*bulkTarget)) error {
	defer func() {
		for range t.in { // let the decoder go on to the others' end
		}
	}()
	since := 0
	for batch := range t.in {
		for _, ev := range batch {
			if !t.handles(ev.Type) {
				continue
			}
			if err := t.builder.Apply(ev); err != nil {
				return eventError(t.p.Name, ev.Record, err)
			}
			t.applied++
			since++
		}
		if since >= bulkEvery {
			since = 0
			if err := t.hand(ctx, copies, false); err != nil {
				return err
			}
			report(t)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return t.hand(ctx, copies, true)
}

// hand sends the builder's rows to copies, in batches of at most
// copyTxRows.
func (t *bulkTarget) hand(ctx context.Context, copies chan<- copyBatch, final bool) error {
	var batch copyBatch
	n := 0
	for _, rs := range t.builder.Rows(final) {
		for len(rs.Values) > 0 {
			k := min(len(rs.Values), copyTxRows-n)
			batch = append(batch, shadowRows{shadow: t.shadow, rows: Rows{Table: rs.Table, Columns: rs.Columns, Values: rs.Values[:k]}})
			rs.Values = rs.Values[k:]
			if n += k; n == copyTxRows {
				if err := send(ctx, copies, batch); err != nil {
					return err
				}
				batch, n = nil, 0
			}
		}
	}
	if len(batch) > 0 {
		return send(ctx, copies, batch)
	}
	return nil
}

// copyBatch is rows for the shadow schemas of some read models.
type copyBatch []shadowRows

type shadowRows struct {
	shadow string
	rows   Rows
}

// readBulk reads the events after from up to head (of types, or all),
// in position order, in batches.
func (r *Runner) readBulk(ctx context.Context, types []string, from, head int64, out chan<- []*Stored) error {
	// data and metadata as text: the bytes jsonb gives either way, without
	// the driver checking each document is valid JSON on the way.
	rows, err := r.store.Pool().Query(ctx, `
SELECT position, event_id, stream_id, stream_version, event_type, schema_version, data::text, metadata::text, recorded_at
FROM events WHERE position > $1 AND position <= $2 AND ($3::text[] IS NULL OR event_type = ANY($3))
ORDER BY position`, from, head, types)
	if err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	defer rows.Close()
	batch := make([]*Stored, 0, readBatch)
	var schemaVersion int32
	for rows.Next() {
		ev := &Stored{}
		if err := rows.Scan(&ev.Position, &ev.EventID, &ev.StreamID, &ev.Version, &ev.Type, &schemaVersion, &ev.Data, &ev.RawMetadata, &ev.RecordedAt); err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		ev.SchemaVersion, ev.RecordedAt = int(schemaVersion), ev.RecordedAt.UTC()
		if batch = append(batch, ev); len(batch) == readBatch {
			if err := send(ctx, out, batch); err != nil {
				return err
			}
			batch = make([]*Stored, 0, readBatch)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read events: %w", err)
	}
	if len(batch) > 0 {
		return send(ctx, out, batch)
	}
	return nil
}

func send[T any](ctx context.Context, out chan<- T, v T) error {
	select {
	case out <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
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
