package eventstore

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/jackc/pgx/v5/pgxpool"
)

// positionBits is how many low bits of a position count events within one
// transaction; the high bits hold the transaction id (xid8). Ordering by
// position is thus ordering by (transaction id, rank in transaction), and
// every event of a transaction whose id is below the oldest transaction
// still in flight (pg_snapshot_xmin) is final: that is the whole of gap
// safety. 2^20 events per transaction and 2^43 transaction ids fit in a
// bigint, and positions stay below 2^53 (exact in JSON numbers) for the
// first 8.5 billion transactions.
const positionBits = 20

const maxEventsPerTx = 1 << positionBits

// Querier is what reads need: a pool or a transaction.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is the event store on one PostgreSQL database.
type Store struct {
	pool    *pgxpool.Pool
	clock   Clock
	changes *Signal
	remote  chan struct{}
	admit   chan struct{} // a slot per append statement in flight
	queue   appendQueue   // single-event appends waiting for a slot (group.go)
	id      string        // tells this store's notifications from others' (signal.go)
}

// Clock stamps events with their time. It is declared here, not imported,
// so that the event store depends on nothing above it; selfcare's
// internal/clock implementations satisfy it.
type Clock interface {
	Now() time.Time
}

// New returns a store on pool; event times come from clk.
func New(pool *pgxpool.Pool, clk Clock) *Store {
	s := &Store{pool: pool, clock: clk, changes: NewSignal(), remote: make(chan struct{}, 1), id: uuid.NewString()}
	s.SetAppendConcurrency(runtime.GOMAXPROCS(0))
	return s
}

// SetAppendConcurrency sets how many of Append's statements the store
// sends to the database at once (one per core by default); the others
// wait their turn in the process, and single-event appends waiting
// together go in one statement when a slot frees (group.go). Set it
// before the store is used.
//
// An append holds a transaction id from its insert to its commit, and
// every gap-safe reader (each read model, the feed, the bus) sees nothing
// appended after it until it commits. With more appends in flight than
// the cores can run, each one's commit waits longer for a core and for
// the WAL, and so does every reader: at 32 writers on 2 cores, a commit's
// stall held every read model back by hundreds of milliseconds. Waiting
// in the process, before the transaction begins, holds nothing back, and
// the appends that wait together share one transaction and one WAL
// flush: with a slot per core, 32 single-event writers append twice as
// fast as 32 raw INSERTs, where eight slots without groups gave 0.6–0.8
// of them.
func (s *Store) SetAppendConcurrency(n int) {
	s.admit = make(chan struct{}, max(n, 1))
}

// admitted waits for an append slot; release frees it.
func (s *Store) admitted(ctx context.Context) error {
	select {
	case s.admit <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// release frees an append slot.
func (s *Store) release() { <-s.admit }

// Pool returns the store's connection pool.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Clock returns the clock that stamps events.
func (s *Store) Clock() Clock { return s.clock }

// Changes is signalled after every commit that appended events, by this
// process or (once Listen runs) by another one.
func (s *Store) Changes() *Signal { return s.changes }

// Tx is a transaction in which events can be appended to several streams
// and other tables (credentials, ...) written, all or nothing.
type Tx struct {
	store    *Store
	tx       pgx.Tx
	appended bool
	last     int64
}

// LastPosition is the position of the last event appended in this
// transaction (0 if none): wait for it to read your own writes.
func (t *Tx) LastPosition() int64 { return t.last }

// Pgx returns the underlying transaction, for writes beside the events.
func (t *Tx) Pgx() pgx.Tx { return t.tx }

// Append appends events to stream in this transaction. See Store.Append
// for the errors. After an error the transaction must be rolled back.
// When another writer took the version, the *VersionConflictError's Actual
// is -1 until Transact has rolled the transaction back and read it.
func (t *Tx) Append(ctx context.Context, stream string, expected Expectation, events ...Event) (AppendResult, error) {
	res, err := t.store.append(ctx, t.tx, stream, expected, events)
	if err == nil && len(res.Positions) > 0 {
		t.appended = true
		t.last = max(t.last, res.LastPosition())
	}
	return res, err
}

// Load reads a stream inside this transaction (see Store.Load).
func (t *Tx) Load(ctx context.Context, stream string, fromVersion int64) ([]Record, error) {
	return t.store.load(ctx, t.tx, stream, fromVersion)
}

// Transact runs fn in a transaction and commits it if fn returns nil. The
// change signal fires after the commit when events were appended.
//
// The transaction's BEGIN goes with its first statements (see lazyTx):
// a command that starts by loading its streams in one batch begins and
// loads in one round trip.
func (s *Store) Transact(ctx context.Context, fn func(tx *Tx) error) error {
	t, err := s.transact(ctx, fn)
	if err != nil {
		var vc *VersionConflictError
		if errors.As(err, &vc) && vc.Actual < 0 {
			if actual, verr := s.version(ctx, s.pool, vc.Stream); verr == nil {
				vc.Actual = actual
			}
		}
		return err
	}
	if t.appended {
		s.committed()
	}
	return nil
}

func (s *Store) transact(ctx context.Context, fn func(tx *Tx) error) (*Tx, error) {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Release() // closed by the pool if a transaction is left open
	lt := &lazyTx{conn: conn}
	// When fn fails or panics; after the commit, a no-op.
	defer func() { _ = lt.Rollback(ctx) }()
	t := &Tx{store: s, tx: lt}
	if err := fn(t); err != nil {
		return t, err
	}
	return t, lt.Commit(ctx)
}

// Append appends events to stream atomically, in a transaction of its own
// (a single statement: one round trip).
//
// It returns a *VersionConflictError (errors.Is ErrWrongExpectedVersion)
// when the stream is not at the expected version, and ErrDuplicateEventID
// when only some of the events were already stored. When all of them were
// already stored in this stream (a retried append) it changes nothing and
// returns where they are.
//
// With Any it never returns ErrWrongExpectedVersion: when a concurrent
// writer takes the version it computed, it tries again on the new version
// until it succeeds or ctx ends.
func (s *Store) Append(ctx context.Context, stream string, expected Expectation, events ...Event) (AppendResult, error) {
	for attempt := 0; ; attempt++ {
		res, stored, err := s.appendAlone(ctx, stream, expected, events)
		if stored {
			s.committed()
		}
		// With Any, a concurrent writer taking the same version is not a
		// conflict of intent: try again on the new version. Each round has
		// a winner, so with many writers on one stream a loser may need
		// many rounds; a short random pause after the first few spreads
		// the losers out.
		if expected == Any && errors.Is(err, ErrWrongExpectedVersion) && ctx.Err() == nil {
			if attempt >= 3 {
				sleepCtx(ctx, time.Duration(rand.Int64N(int64(min(attempt, 20))*int64(time.Millisecond))))
			}
			continue
		}
		return res, err
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// insertSQL inserts an append's events. nxt is MATERIALIZED: inlined, its
// subquery ran once per inserted row, each time visiting the index entries
// of the rows the statement had inserted so far (quadratic in the events
// of the append: 4,950 heap fetches for 100 events).
const insertSQL = `
WITH cur AS (
    SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $1
), base AS (
    SELECT pg_current_xact_id()::text::bigint << 20 AS b
), nxt AS MATERIALIZED (
    SELECT base.b,
           coalesce((SELECT max(e.position) + 1 FROM events e
                     WHERE e.position >= base.b AND e.position < base.b + 1048576), base.b) AS p
    FROM base
)
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT nxt.p + t.ord - 1, t.id, $1, cur.v + t.ord, t.typ, t.sv, t.data::jsonb, t.meta::jsonb, $7
FROM cur, nxt, unnest($2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[]) WITH ORDINALITY AS t(id, typ, sv, data, meta, ord)
WHERE $8::bigint < 0 OR cur.v = $8::bigint`

const returningSQL = `
RETURNING position, stream_version, (SELECT b FROM base)`

// appendSQL appends in a transaction, which an event id already stored
// must not abort (a retried append inside Transact is a no-op): ids
// already stored are skipped, and the caller tells a retry from a partial
// duplicate.
const appendSQL = insertSQL + `
ON CONFLICT (event_id) DO NOTHING` + returningSQL

// appendAloneSQL appends in the statement's own transaction (one round
// trip): it inserts every event or none, an id already stored failing it
// with a unique violation. The transaction has appended nothing before,
// so its events take the first positions of its range.
const appendAloneSQL = `
WITH cur AS (
    SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $1
), base AS (
    SELECT pg_current_xact_id()::text::bigint << 20 AS b
)
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT base.b + t.ord - 1, t.id, $1, cur.v + t.ord, t.typ, t.sv, t.data::jsonb, t.meta::jsonb, $7
FROM cur, base, unnest($2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[]) WITH ORDINALITY AS t(id, typ, sv, data, meta, ord)
WHERE $8::bigint < 0 OR cur.v = $8::bigint` + returningSQL

// appendOneAloneSQL is appendAloneSQL for one event (most appends), with
// scalar parameters: no arrays for the server to decode and unnest. The
// event is the transaction's first, so its position is the base.
const appendOneAloneSQL = `
WITH cur AS (
    SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = $1
)
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT pg_current_xact_id()::text::bigint << 20, $2, $1, cur.v + 1, $3, $4, $5::jsonb, $6::jsonb, $7
FROM cur
WHERE $8::bigint < 0 OR cur.v = $8::bigint
RETURNING position, stream_version, position`

// appendArgs are an append's parameters, validated.
type appendArgs struct {
	stream   string
	ids      []uuid.UUID
	types    []string
	versions []int32
	data     []string
	metas    []string
}

func newAppendArgs(stream string, events []Event) (appendArgs, error) {
	if stream == "" {
		return appendArgs{}, errors.New("eventstore: empty stream id")
	}
	if len(events) >= maxEventsPerTx {
		return appendArgs{}, fmt.Errorf("eventstore: %d events in one append, at most %d", len(events), maxEventsPerTx-1)
	}
	a := appendArgs{
		stream:   stream,
		ids:      make([]uuid.UUID, len(events)),
		types:    make([]string, len(events)),
		versions: make([]int32, len(events)),
		data:     make([]string, len(events)),
		metas:    make([]string, len(events)),
	}
	for i, e := range events {
		if e.ID == uuid.Nil {
			return appendArgs{}, fmt.Errorf("eventstore: event %d of %q has no id", i, stream)
		}
		if e.Type == "" {
			return appendArgs{}, fmt.Errorf("eventstore: event %d of %q has no type", i, stream)
		}
		a.ids[i] = e.ID
		a.types[i] = e.Type
		a.versions[i] = int32(max(e.SchemaVersion, 1))
		a.data[i] = string(e.Data)
		if len(e.Data) == 0 {
			a.data[i] = "{}"
		}
		m, err := json.Marshal(e.Metadata)
		if err != nil {
			return appendArgs{}, fmt.Errorf("eventstore: metadata: %w", err)
		}
		a.metas[i] = string(m)
	}
	return a, nil
}

// args are the arguments of appendSQL and appendAloneSQL: the events as
// arrays, one element each.
func (a appendArgs) args(now time.Time, expected Expectation) []any {
	return []any{a.stream, wireIDs(a.ids), a.types, a.versions, a.data, a.metas, now, int64(expected)}
}

// wireIDs are ids as pgx encodes them straight into uuids. A uuid.UUID
// is a driver.Valuer: pgx took its text, failed to encode that as a uuid
// (building an error), parsed it and encoded the result, for each id: a
// quarter of a single-event append's CPU in the profile.
func wireIDs(ids []uuid.UUID) [][16]byte {
	out := make([][16]byte, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}

// insert runs sql (appendSQL, appendAloneSQL or appendOneAloneSQL) with
// args and returns where the inserted events landed, and the transaction's
// base position.
func (s *Store) insert(ctx context.Context, q Querier, sql string, args []any) (AppendResult, int64, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return AppendResult{}, 0, err
	}
	var res AppendResult
	var base int64
	for rows.Next() {
		var pos, version int64
		if err := rows.Scan(&pos, &version, &base); err != nil {
			rows.Close()
			return AppendResult{}, 0, err
		}
		res.Positions = append(res.Positions, pos)
		res.Version = max(res.Version, version)
	}
	// For appendAloneSQL, this also waits for the commit.
	return res, base, rows.Err()
}

// appendAlone appends events in a single statement, its own transaction:
// one round trip instead of three (BEGIN, INSERT, COMMIT), with the same
// outcomes as Tx.Append in a transaction of its own. It reports whether
// it stored anything.
func (s *Store) appendAlone(ctx context.Context, stream string, expected Expectation, events []Event) (AppendResult, bool, error) {
	if len(events) == 0 {
		return AppendResult{}, false, nil
	}
	a, err := newAppendArgs(stream, events)
	if err != nil {
		return AppendResult{}, false, err
	}
	if len(events) == 1 {
		return s.appendOne(ctx, a, expected)
	}
	return s.admittedAlone(ctx, a, expected)
}

// admittedAlone is appendAlone once events are validated: it waits for a
// slot and appends them in a statement of their own.
func (s *Store) admittedAlone(ctx context.Context, a appendArgs, expected Expectation) (AppendResult, bool, error) {
	if err := s.admitted(ctx); err != nil {
		return AppendResult{}, false, err
	}
	return s.alone(ctx, a, expected)
}

// alone appends a's events in a statement of their own, in a slot the
// caller holds, frees the slot as soon as the statement is done, and then
// tells what happened as appendAlone does: the reads that tell a retry
// from a conflict do not hold a slot.
func (s *Store) alone(ctx context.Context, a appendArgs, expected Expectation) (AppendResult, bool, error) {
	stream := a.stream
	sql, args := appendAloneSQL, a.args(s.clock.Now(), expected)
	if len(a.ids) == 1 {
		// Scalars rather than one-element arrays: the common case, cheaper.
		sql, args = appendOneAloneSQL, []any{a.stream, [16]byte(a.ids[0]), a.types[0], a.versions[0], a.data[0], a.metas[0], args[6], args[7]}
	}
	res, _, err := s.insert(ctx, s.pool, sql, args)
	s.release()
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_event_id_key":
		// Nothing was stored: a retry of an append, or a partial duplicate.
		res, err := s.alreadyAppended(ctx, s.pool, stream, expected, a.ids)
		return res, false, err
	case err != nil:
		err = s.appendError(ctx, stream, expected, err)
		var vc *VersionConflictError
		if errors.As(err, &vc) {
			// No transaction is held: the actual version can be read now.
			if actual, verr := s.version(ctx, s.pool, stream); verr == nil {
				vc.Actual = actual
			}
		}
		return AppendResult{}, false, err
	case len(res.Positions) == 0:
		res, err := s.alreadyAppended(ctx, s.pool, stream, expected, a.ids)
		return res, false, err
	case len(res.Positions) != len(a.ids):
		return AppendResult{}, false, fmt.Errorf("eventstore: append to %q stored %d of %d events", stream, len(res.Positions), len(a.ids))
	}
	return res, true, nil
}

func (s *Store) append(ctx context.Context, tx pgx.Tx, stream string, expected Expectation, events []Event) (AppendResult, error) {
	if len(events) == 0 {
		return AppendResult{}, nil
	}
	a, err := newAppendArgs(stream, events)
	if err != nil {
		return AppendResult{}, err
	}
	res, base, err := s.insert(ctx, tx, appendSQL, a.args(s.clock.Now(), expected))
	if err != nil {
		return AppendResult{}, s.appendError(ctx, stream, expected, err)
	}
	switch {
	case len(res.Positions) == len(events):
		if res.Positions[len(res.Positions)-1] >= base+maxEventsPerTx {
			return AppendResult{}, fmt.Errorf("eventstore: more than %d events in one transaction", maxEventsPerTx-1)
		}
		return res, nil
	case len(res.Positions) == 0:
		return s.alreadyAppended(ctx, tx, stream, expected, a.ids)
	default:
		return AppendResult{}, fmt.Errorf("append to %q: %w", stream, ErrDuplicateEventID)
	}
}

// alreadyAppended tells a retried append (all ids stored in this stream:
// success, nothing changes) from a version conflict.
func (s *Store) alreadyAppended(ctx context.Context, q Querier, stream string, expected Expectation, ids []uuid.UUID) (AppendResult, error) {
	rows, err := q.Query(ctx,
		`SELECT position, stream_version FROM events WHERE event_id = ANY($1) AND stream_id = $2 ORDER BY stream_version`, wireIDs(ids), stream)
	if err != nil {
		return AppendResult{}, fmt.Errorf("eventstore: append to %q: %w", stream, err)
	}
	var res AppendResult
	for rows.Next() {
		var pos, version int64
		if err := rows.Scan(&pos, &version); err != nil {
			rows.Close()
			return AppendResult{}, err
		}
		res.Positions = append(res.Positions, pos)
		res.Version = max(res.Version, version)
	}
	if err := rows.Err(); err != nil {
		return AppendResult{}, err
	}
	if len(res.Positions) == len(ids) {
		return res, nil
	}
	if len(res.Positions) > 0 {
		return AppendResult{}, fmt.Errorf("append to %q: %w", stream, ErrDuplicateEventID)
	}
	actual, err := s.version(ctx, q, stream)
	if err != nil {
		return AppendResult{}, err
	}
	if actual == int64(expected) || expected == Any {
		// The ids exist in another stream.
		return AppendResult{}, fmt.Errorf("append to %q: %w", stream, ErrDuplicateEventID)
	}
	return AppendResult{}, &VersionConflictError{Stream: stream, Expected: expected, Actual: actual}
}

// appendError turns a unique violation on (stream, version) — a concurrent
// writer won the race — into a VersionConflictError.
func (s *Store) appendError(ctx context.Context, stream string, expected Expectation, err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "events_stream_version_key" {
		// The transaction is aborted, so the actual version must be read
		// outside it, but not now: a second connection taken while this
		// one is held can starve the pool when many writers conflict at
		// once. Transact reads it once the transaction is rolled back.
		return &VersionConflictError{Stream: stream, Expected: expected, Actual: -1}
	}
	return fmt.Errorf("eventstore: append to %q: %w", stream, err)
}

// Version returns the current version of stream (0 if it has no events).
func (s *Store) Version(ctx context.Context, stream string) (int64, error) {
	return s.version(ctx, s.pool, stream)
}

func (s *Store) version(ctx context.Context, q Querier, stream string) (int64, error) {
	var v int64
	err := q.QueryRow(ctx, `SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1`, stream).Scan(&v)
	if err != nil {
		return 0, fmt.Errorf("eventstore: version of %q: %w", stream, err)
	}
	return v, nil
}

const recordColumns = `position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at`

// Load returns the events of stream with a version above fromVersion, in
// version order. It returns ErrStreamNotFound if the stream has no events
// at all (not when it merely has none above fromVersion).
func (s *Store) Load(ctx context.Context, stream string, fromVersion int64) ([]Record, error) {
	return s.load(ctx, s.pool, stream, fromVersion)
}

// Each hands fn the events of stream in version order, one at a time,
// until fn returns false: a reader that needs only the start of a long
// stream does not read the rest. The records' Metadata is not decoded
// (RawMetadata holds it). It returns ErrStreamNotFound for a stream
// without events.
//
// It reads the stream in pages of eachPage events: a query's rows are
// all sent by the server whether the reader wants them or not, so a
// reader that stops early stops reading at the end of its page.
func (s *Store) Each(ctx context.Context, stream string, fn func(Record) (more bool, err error)) error {
	after, n := int64(0), 0
	for {
		got, more, err := s.eachPage(ctx, stream, after, fn)
		if err != nil {
			return fmt.Errorf("eventstore: load %q: %w", stream, err)
		}
		n += got
		if !more {
			break
		}
		after += int64(got)
	}
	if n == 0 {
		return fmt.Errorf("load %q: %w", stream, ErrStreamNotFound)
	}
	return nil
}

// eachPage is how many events Each reads at a time.
const eachPage = 128

// eachPage hands fn the events of stream after version `after`, at most
// eachPage of them; more is false when fn stopped or the stream ended.
func (s *Store) eachPage(ctx context.Context, stream string, after int64, fn func(Record) (bool, error)) (got int, more bool, err error) {
	rows, err := s.pool.Query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version LIMIT $3`,
		stream, after, eachPage)
	if err != nil {
		return 0, false, err
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return got, false, err
		}
		got++
		more, err := fn(r)
		if err != nil {
			return got, false, err
		}
		if !more {
			return got, false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return got, false, err
	}
	return got, got == eachPage, nil
}

func (s *Store) load(ctx context.Context, q Querier, stream string, fromVersion int64) ([]Record, error) {
	rows, err := q.Query(ctx, `SELECT `+recordColumns+` FROM events WHERE stream_id = $1 AND stream_version > $2 ORDER BY stream_version`, stream, fromVersion)
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %q: %w", stream, err)
	}
	recs, err := collectRecords(rows)
	if err != nil {
		return nil, fmt.Errorf("eventstore: load %q: %w", stream, err)
	}
	if len(recs) == 0 {
		v, err := s.version(ctx, q, stream)
		if err != nil {
			return nil, err
		}
		if v == 0 {
			return nil, fmt.Errorf("load %q: %w", stream, ErrStreamNotFound)
		}
	}
	return recs, nil
}

// ReadOptions narrows ReadAll.
type ReadOptions struct {
	// Types, if not empty, keeps only events of these types.
	Types []string
	// Limit caps the number of events returned (default 500).
	Limit int
	// HeadersOnly leaves out each event's data and metadata, for a reader
	// that only needs to know which events are where.
	HeadersOnly bool
	// RawMetadata leaves each record's Metadata empty: only its stored
	// bytes, RawMetadata, for a reader that passes them on as they are.
	RawMetadata bool
}

// ReadAll returns events after position `after`, in position order, and
// the position to pass as `after` next time. See ReadPage.
func (s *Store) ReadAll(ctx context.Context, q Querier, after int64, opt ReadOptions) ([]Record, int64, error) {
	p, err := s.ReadPage(ctx, q, after, opt)
	return p.Records, p.Next, err
}

// Page is one read of the global stream.
type Page struct {
	Records []Record
	// Next is the position to read after next time.
	Next int64
	// HeldBack reports that events exist beyond what could be returned
	// because an older transaction is still in flight: read again soon.
	HeldBack bool
}

// ReadPage is ReadAll with the details of the page.
//
// It is gap-safe: it only returns events of transactions older than the
// oldest transaction still in flight, so an event that commits later can
// never have a position below one already returned. A reader that always
// passes the returned next position sees every event exactly once.
// With q a transaction, ReadPage must run before that transaction writes.
func (s *Store) ReadPage(ctx context.Context, q Querier, after int64, opt ReadOptions) (Page, error) {
	sql, args := readPageQuery(after, opt)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return Page{Next: after}, fmt.Errorf("eventstore: read all: %w", err)
	}
	return scanPage(rows, after, opt)
}

// QueueReadPage queues ReadPage's query in b, to save a round trip: page
// is set once the batch's results have been read (by BatchResults.Close,
// say). The same rule holds: in a transaction, it must come before the
// transaction's first write.
func (s *Store) QueueReadPage(b *pgx.Batch, after int64, opt ReadOptions, page *Page) {
	sql, args := readPageQuery(after, opt)
	*page = Page{Next: after}
	b.Queue(sql, args...).Query(func(rows pgx.Rows) error {
		p, err := scanPage(rows, after, opt)
		*page = p
		return err
	})
}

func readPageQuery(after int64, opt ReadOptions) (string, []any) {
	var types []string
	if len(opt.Types) > 0 {
		types = opt.Types
	}
	// As text: the bytes jsonb gives either way, without the driver
	// checking again that each stored document is valid JSON.
	columns := `e.data::text, e.metadata::text`
	if opt.HeadersOnly {
		columns = `NULL::text, NULL::text`
	}
	// The page is the first events after `after` (of the types asked
	// for), cut at the bound: the events below the bound come first in
	// position order, so this is the page of events below it, and the
	// plan is the primary key's index read in order, whatever the
	// planner's statistics say of a bound it cannot know in advance.
	// Whether events lie beyond the bound is read from the index's last
	// entry: one index tuple, where EXISTS (position >= bound) may scan
	// the whole table.
	return `
WITH b AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20 AS bound)
SELECT e.position, e.event_id, e.stream_id, e.stream_version, e.event_type, e.schema_version, ` + columns + `, e.recorded_at, b.bound,
       coalesce((SELECT max(h.position) FROM events h), 0) >= b.bound AS held_back
FROM b LEFT JOIN LATERAL (
    SELECT * FROM (
        SELECT ` + recordColumns + ` FROM events
        WHERE position > $1 AND ($3::text[] IS NULL OR event_type = ANY($3))
        ORDER BY position LIMIT $2
    ) f WHERE f.position < b.bound
) e ON true`, []any{after, opt.limit(), types}
}

func (o ReadOptions) limit() int {
	if o.Limit <= 0 {
		return 500
	}
	return o.Limit
}

// scanPage reads the rows of readPageQuery, and closes them.
func scanPage(rows pgx.Rows, after int64, opt ReadOptions) (Page, error) {
	var recs []Record
	page, err := eachRecord(rows, after, opt, false, func(r Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return page, err
	}
	page.Records = recs
	return page, nil
}

// StreamPage is ReadPage handing each event to fn as it is read, instead
// of collecting them: for a reader that passes events on (the feed writes
// each to its client while the next ones arrive). The returned page has
// no Records, only Next and HeldBack; an error of fn ends the read and is
// returned as it is. Each record's Data and RawMetadata are valid only
// until fn returns: fn copies what it keeps.
func (s *Store) StreamPage(ctx context.Context, q Querier, after int64, opt ReadOptions, fn func(Record) error) (Page, error) {
	sql, args := readPageQuery(after, opt)
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return Page{Next: after}, fmt.Errorf("eventstore: read all: %w", err)
	}
	return eachRecord(rows, after, opt, true, fn)
}

// eachRecord reads the rows of readPageQuery, hands each record to fn and
// closes them; the page it returns has no Records. When borrowed, each
// record's Data and RawMetadata are the driver's bytes, valid only until
// fn returns (no copy of every document for a reader that passes it on).
func eachRecord(rows pgx.Rows, after int64, opt ReadOptions, borrowed bool, fn func(Record) error) (Page, error) {
	defer rows.Close()
	n := 0
	last := after
	var row pageRow // the bound and held back are those of every row
	raw := binaryPageColumns(rows.FieldDescriptions())
	for rows.Next() {
		var err error
		if raw {
			err = row.decode(rows.RawValues(), borrowed)
		} else {
			err = row.scan(rows)
		}
		if err != nil {
			return Page{Next: after}, fmt.Errorf("eventstore: read all: %w", err)
		}
		if !row.pos.Valid {
			continue // no event: the LEFT JOIN still gives the bound
		}
		if row.pos.Int64 <= last {
			// The join hands the page on in its order; never skip an
			// event because that ever changed.
			return Page{Next: after}, fmt.Errorf("eventstore: read all: position %d after %d: the page is out of order", row.pos.Int64, last)
		}
		r := row.record()
		if !opt.HeadersOnly && !opt.RawMetadata {
			if err := json.Unmarshal(r.RawMetadata, &r.Metadata); err != nil {
				return Page{Next: after}, fmt.Errorf("eventstore: metadata of %d: %w", r.Position, err)
			}
		}
		if err := fn(r); err != nil {
			return Page{Next: after}, err
		}
		n++
		last = r.Position
	}
	if err := rows.Err(); err != nil {
		return Page{Next: after}, fmt.Errorf("eventstore: read all: %w", err)
	}
	next := last
	if n < opt.limit() && row.bound-1 > next {
		// Everything below the bound has been seen: skip ahead.
		next = row.bound - 1
	}
	return Page{Next: next, HeldBack: row.heldBack}, nil
}

// pageRow is a row of readPageQuery. Its event columns are value types,
// not pointers, for the LEFT JOIN may leave them NULL: no allocation per
// column of each event.
type pageRow struct {
	pos, version pgtype.Int8
	id           pgtype.UUID
	stream, typ  pgtype.Text
	sv           pgtype.Int4
	data, meta   []byte
	at           pgtype.Timestamptz
	bound        int64
	heldBack     bool
}

// scan reads the row through the driver's scan plans.
func (p *pageRow) scan(rows pgx.Rows) error {
	p.data, p.meta = nil, nil // fresh slices for each record
	return rows.Scan(&p.pos, &p.id, &p.stream, &p.version, &p.typ, &p.sv, &p.data, &p.meta, &p.at, &p.bound, &p.heldBack)
}

// record is the row's event.
func (p *pageRow) record() Record {
	return Record{Position: p.pos.Int64, EventID: p.id.Bytes, StreamID: p.stream.String, Version: p.version.Int64, Type: p.typ.String,
		SchemaVersion: int(p.sv.Int32), Data: p.data, RecordedAt: p.at.Time.UTC(), RawMetadata: p.meta}
}

// pageColumnFormats are the formats decode reads the columns of
// readPageQuery in: binary for numbers, uuids, times and booleans, text
// for the rest.
var pageColumnFormats = []int16{pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.TextFormatCode, pgx.BinaryFormatCode, pgx.TextFormatCode,
	pgx.BinaryFormatCode, pgx.TextFormatCode, pgx.TextFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode, pgx.BinaryFormatCode}

// binaryPageColumns reports whether the page's columns came in the formats
// decode reads (the driver's choice; rows are scanned otherwise).
func binaryPageColumns(fds []pgconn.FieldDescription) bool {
	if len(fds) != len(pageColumnFormats) {
		return false
	}
	for i, fd := range fds {
		if fd.Format != pageColumnFormats[i] {
			return false
		}
	}
	return true
}

// decode is scan reading the wire values directly: a page of a thousand
// events spent as long in the driver's scan plans as in the rest of its
// reading. Text is copied (the values point into the driver's buffer
// until the next row), the documents unless borrowed.
func (p *pageRow) decode(vals [][]byte, borrowed bool) error {
	if len(vals) != len(pageColumnFormats) {
		return fmt.Errorf("%d columns in a page row", len(vals))
	}
	int8At := func(i int) (int64, bool, error) {
		switch len(vals[i]) {
		case 0:
			if vals[i] == nil {
				return 0, false, nil
			}
		case 8:
			return int64(binary.BigEndian.Uint64(vals[i])), true, nil
		}
		return 0, false, fmt.Errorf("column %d: %d bytes for an int8", i, len(vals[i]))
	}
	var err error
	if p.pos.Int64, p.pos.Valid, err = int8At(0); err != nil {
		return err
	}
	if p.bound, _, err = int8At(9); err != nil {
		return err
	}
	if len(vals[10]) != 1 {
		return fmt.Errorf("column 10: %d bytes for a boolean", len(vals[10]))
	}
	p.heldBack = vals[10][0] != 0
	if !p.pos.Valid {
		return nil // no event: the LEFT JOIN still gives the bound
	}
	if p.version.Int64, p.version.Valid, err = int8At(3); err != nil {
		return err
	}
	if len(vals[1]) != 16 || len(vals[5]) != 4 || len(vals[8]) != 8 || vals[2] == nil || vals[4] == nil {
		return fmt.Errorf("a page row with unexpected values (%d, %d, %d bytes)", len(vals[1]), len(vals[5]), len(vals[8]))
	}
	p.id = pgtype.UUID{Bytes: [16]byte(vals[1]), Valid: true}
	p.stream = pgtype.Text{String: string(vals[2]), Valid: true}
	p.typ = pgtype.Text{String: string(vals[4]), Valid: true}
	p.sv = pgtype.Int4{Int32: int32(binary.BigEndian.Uint32(vals[5])), Valid: true}
	// Microseconds since 2000-01-01 UTC; not the infinities, never stored.
	us := int64(binary.BigEndian.Uint64(vals[8]))
	p.at = pgtype.Timestamptz{Time: postgresEpoch.Add(time.Duration(us) * time.Microsecond), Valid: true}
	p.data, p.meta = nil, nil
	if borrowed {
		p.data, p.meta = vals[6], vals[7]
		return nil
	}
	if vals[6] != nil || vals[7] != nil {
		buf := make([]byte, len(vals[6])+len(vals[7]))
		copy(buf, vals[6])
		copy(buf[len(vals[6]):], vals[7])
		if vals[6] != nil {
			p.data = buf[:len(vals[6]):len(vals[6])]
		}
		if vals[7] != nil {
			p.meta = buf[len(vals[6]):]
		}
	}
	return nil
}

// postgresEpoch is the instant PostgreSQL counts timestamps from.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// WaitVisible waits until gap-safe readers see position pos (Head has
// reached it), looking every 2 ms until ctx ends: a transaction in flight
// anywhere on the cluster holds newer events back for a moment, and one
// that appends nothing sends no signal when it ends.
func (s *Store) WaitVisible(ctx context.Context, pos int64) error {
	for {
		head, err := s.Head(ctx)
		if err != nil {
			return err
		}
		if head >= pos {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("eventstore: position %d still held back: %w", pos, ctx.Err())
		case <-time.After(2 * time.Millisecond):
		}
	}
}

// Head returns the highest position a gap-safe reader may see now (0 when
// the store is empty).
func (s *Store) Head(ctx context.Context) (int64, error) {
	var head int64
	err := s.pool.QueryRow(ctx, `
SELECT coalesce(max(position), 0) FROM events
WHERE position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20`).Scan(&head)
	if err != nil {
		return 0, fmt.Errorf("eventstore: head: %w", err)
	}
	return head, nil
}

func collectRecords(rows pgx.Rows) ([]Record, error) {
	defer rows.Close()
	var recs []Record
	for rows.Next() {
		r, err := scanRecord(rows)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(r.RawMetadata, &r.Metadata); err != nil {
			return nil, fmt.Errorf("metadata of %d: %w", r.Position, err)
		}
		recs = append(recs, r)
	}
	return recs, rows.Err()
}

// scanRecord scans a row of recordColumns, its metadata left in
// RawMetadata. Data and metadata are scanned as bytes: into a
// json.RawMessage the driver would check the JSON again.
func scanRecord(row pgx.Row) (Record, error) {
	var r Record
	var sv int32
	var data, meta []byte
	if err := row.Scan(&r.Position, &r.EventID, &r.StreamID, &r.Version, &r.Type, &sv, &data, &meta, &r.RecordedAt); err != nil {
		return Record{}, err
	}
	r.Data, r.RawMetadata, r.SchemaVersion, r.RecordedAt = data, meta, int(sv), r.RecordedAt.UTC()
	return r, nil
}
