package projections

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"selfcare/eventstore"
)

// maxQueued bounds the statements a pipeline holds before it flushes on
// its own: a bound on memory, not a tuning knob (a batch of events is
// usually flushed whole, with its checkpoint and commit).
const maxQueued = 1000

// pipeline is the transaction a projector's Handle receives. Exec with
// arguments does not go to the server at once: it is queued, and the
// queue is sent as one pgx.Batch (one round trip) when something needs
// its effects: before any Query, QueryRow, CopyFrom, SendBatch, Prepare,
// savepoint (Begin) or Conn, and at the end of the batch of events,
// where the runner adds the checkpoint update and the COMMIT to it.
// Statements run in the order they were issued, in the one transaction.
//
// A queued statement that fails fails the whole batch of events: the
// pipeline remembers the failure, refuses every later statement, and the
// runner reports it against the event whose Handle queued the statement
// (the events of the HandleBatch call), whatever the Handle running at
// flush time returned.
type pipeline struct {
	pgx.Tx // the batch's transaction: what is not overridden goes to it

	projector string
	queue     *pgx.Batch
	owners    []owner // who queued each statement of queue
	current   owner   // who is queuing now
	failed    *queuedError
}

// owner is who queued a statement: the event being handled, the events
// of a HandleBatch call, or the runner itself (its checkpoint update, its
// commit), named by what.
type owner struct {
	event *eventstore.Record
	batch []eventstore.Record
	what  string
}

func newPipeline(tx pgx.Tx, projector string) *pipeline {
	return &pipeline{Tx: tx, projector: projector, queue: &pgx.Batch{}}
}

// handling makes rec the owner of what is queued next.
func (pl *pipeline) handling(rec *eventstore.Record) { pl.current = owner{event: rec} }

// handlingBatch makes recs, given to HandleBatch, the owner of what is
// queued next.
func (pl *pipeline) handlingBatch(recs []eventstore.Record) { pl.current = owner{batch: recs} }

// queueOwn queues the runner's own statement, named what in errors.
func (pl *pipeline) queueOwn(what, sql string, args ...any) {
	pl.queue.Queue(sql, args...)
	pl.owners = append(pl.owners, owner{what: what})
}

// queuedError is the failure of a queued statement, found when the queue
// was flushed, named after the event that queued it.
type queuedError struct {
	projector string
	owner     owner
	err       error
}

func (e *queuedError) Error() string {
	switch {
	case e.owner.event != nil:
		return eventError(e.projector, *e.owner.event, e.err).Error()
	case e.owner.batch != nil:
		return batchError(e.projector, e.owner.batch, e.err).Error()
	default:
		return e.owner.what + ": " + e.err.Error()
	}
}

func (e *queuedError) Unwrap() error { return e.err }

// eventError is how the runner reports the failure of an event's Handle.
func eventError(projector string, rec eventstore.Record, err error) error {
	return fmt.Errorf("projector %s, event %d (%s %s v%d): %w", projector, rec.Position, rec.Type, rec.StreamID, rec.Version, err)
}

// batchError is how the runner reports the failure of a HandleBatch call.
func batchError(projector string, recs []eventstore.Record, err error) error {
	return fmt.Errorf("projector %s, events %d to %d: %w", projector, recs[0].Position, recs[len(recs)-1].Position, err)
}

// flush sends the queued statements, if any, and reads their results.
func (pl *pipeline) flush(ctx context.Context) error {
	if pl.failed != nil {
		return pl.failed
	}
	if pl.queue.Len() == 0 {
		return nil
	}
	b, owners := pl.take()
	br := pl.Tx.SendBatch(ctx, b)
	err := pl.drain(br, b, owners)
	if cerr := br.Close(); err == nil && cerr != nil {
		err = pl.fail(owners[len(owners)-1], cerr)
	}
	return err
}

// take empties the queue and returns what it held.
func (pl *pipeline) take() (*pgx.Batch, []owner) {
	b, owners := pl.queue, pl.owners
	pl.queue, pl.owners = &pgx.Batch{}, nil
	return b, owners
}

// drain reads the results of the len(owners) first statements of b, sent
// as br, and records the first failure.
func (pl *pipeline) drain(br pgx.BatchResults, b *pgx.Batch, owners []owner) error {
	for i := range owners {
		if _, err := br.Exec(); err != nil {
			// An error preparing or encoding a statement comes before any
			// result: it belongs to the first statement of that text.
			var pre pgx.ErrPreprocessingBatch
			if errors.As(err, &pre) {
				for j, q := range b.QueuedQueries[:len(owners)] {
					if q.SQL == pre.SQL() {
						i = j
						break
					}
				}
			}
			return pl.fail(owners[i], err)
		}
	}
	return nil
}

func (pl *pipeline) fail(o owner, err error) error {
	pl.failed = &queuedError{projector: pl.projector, owner: o, err: err}
	return pl.failed
}

// queueable reports whether a statement with these arguments can go in a
// batch: pgx runs Exec without arguments with the simple protocol (which
// allows several statements in one string), and batches take no query
// options but a QueryRewriter (named arguments).
func queueable(sql string, args []any) bool {
	if sql == "" || len(args) == 0 {
		return false
	}
	switch args[0].(type) {
	case pgx.QueryExecMode, pgx.QueryResultFormats, pgx.QueryResultFormatsByOID:
		return false
	}
	return true
}

// Exec queues sql and returns an empty command tag (RowsAffected 0) and,
// unless an earlier queued statement failed, no error: its own failure is
// reported later. Exec without arguments runs at once, after the queue.
func (pl *pipeline) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if pl.failed != nil {
		return pgconn.CommandTag{}, pl.failed
	}
	if !queueable(sql, args) {
		if err := pl.flush(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		return pl.Tx.Exec(ctx, sql, args...)
	}
	pl.queue.Queue(sql, args...)
	pl.owners = append(pl.owners, pl.current)
	if pl.queue.Len() >= maxQueued {
		return pgconn.CommandTag{}, pl.flush(ctx)
	}
	return pgconn.CommandTag{}, nil
}

// execNow runs sql after the queue, in the same round trip, and returns
// its command tag.
func (pl *pipeline) execNow(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if pl.failed != nil {
		return pgconn.CommandTag{}, pl.failed
	}
	if pl.queue.Len() == 0 || !queueable(sql, args) {
		if err := pl.flush(ctx); err != nil {
			return pgconn.CommandTag{}, err
		}
		return pl.Tx.Exec(ctx, sql, args...)
	}
	b, owners := pl.take()
	b.Queue(sql, args...)
	br := pl.Tx.SendBatch(ctx, b)
	defer br.Close()
	if err := pl.drain(br, b, owners); err != nil {
		return pgconn.CommandTag{}, err
	}
	return br.Exec()
}

// Query runs sql after the queue, in the same round trip.
func (pl *pipeline) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	if pl.failed != nil {
		return failedRows{pl.failed}, pl.failed
	}
	if pl.queue.Len() == 0 || !queueable(sql, args) {
		if err := pl.flush(ctx); err != nil {
			return failedRows{err}, err
		}
		return pl.Tx.Query(ctx, sql, args...)
	}
	b, owners := pl.take()
	b.Queue(sql, args...)
	br := pl.Tx.SendBatch(ctx, b)
	if err := pl.drain(br, b, owners); err != nil {
		br.Close()
		return failedRows{err}, err
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return failedRows{err}, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// QueryRow runs sql after the queue, in the same round trip.
func (pl *pipeline) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	rows, _ := pl.Query(ctx, sql, args...)
	return row{rows}
}

// CopyFrom runs after the queue.
func (pl *pipeline) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	if err := pl.flush(ctx); err != nil {
		return 0, err
	}
	return pl.Tx.CopyFrom(ctx, table, columns, src)
}

// SendBatch sends b after the queue.
func (pl *pipeline) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if err := pl.flush(ctx); err != nil {
		return pgx.FailedBatchResults(b, err)
	}
	return pl.Tx.SendBatch(ctx, b)
}

// Prepare runs after the queue.
func (pl *pipeline) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	if err := pl.flush(ctx); err != nil {
		return nil, err
	}
	return pl.Tx.Prepare(ctx, name, sql)
}

// Begin sets a savepoint after the queue. The savepoint's transaction is
// not pipelined: its statements run at once, so that a Handle can catch
// their errors and roll back to the savepoint.
func (pl *pipeline) Begin(ctx context.Context) (pgx.Tx, error) {
	if err := pl.flush(ctx); err != nil {
		return nil, err
	}
	return pl.Tx.Begin(ctx)
}

// Conn flushes the queue (with no deadline: Conn takes no context) before
// handing out the connection, on which statements would bypass it.
func (pl *pipeline) Conn() *pgx.Conn {
	_ = pl.flush(context.Background()) // a failure stays in pl.failed and fails the batch
	return pl.Tx.Conn()
}

// LargeObjects flushes the queue first, as Conn does.
func (pl *pipeline) LargeObjects() pgx.LargeObjects {
	_ = pl.flush(context.Background())
	return pl.Tx.LargeObjects()
}

// errEndsBatch refuses a Handle's attempt to end the batch's transaction.
var errEndsBatch = errors.New("projections: Handle must not commit or roll back the batch's transaction")

func (pl *pipeline) Commit(context.Context) error   { return errEndsBatch }
func (pl *pipeline) Rollback(context.Context) error { return errEndsBatch }

// ExecNow runs sql in tx at once and returns its command tag. In a
// projector's Handle, use it instead of tx.Exec when the command tag
// matters (RowsAffected): there, tx.Exec only queues the statement (see
// Projector.Handle). Outside a Handle it is tx.Exec.
func ExecNow(ctx context.Context, tx pgx.Tx, sql string, args ...any) (pgconn.CommandTag, error) {
	if pl, ok := tx.(*pipeline); ok {
		return pl.execNow(ctx, sql, args...)
	}
	return tx.Exec(ctx, sql, args...)
}

// batchRows are the rows of a query sent at the end of a batch: the batch
// is closed with them.
type batchRows struct {
	pgx.Rows
	br       pgx.BatchResults
	closed   bool
	closeErr error
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.end()
	return false
}

func (r *batchRows) Close() {
	r.Rows.Close()
	r.end()
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.closeErr
}

func (r *batchRows) end() {
	if !r.closed {
		r.closed = true
		r.Rows.Close()
		r.closeErr = r.br.Close()
	}
}

// failedRows are the rows of a query that could not run.
type failedRows struct{ err error }

var _ pgx.Rows = failedRows{}

func (failedRows) Close()                                       {}
func (r failedRows) Err() error                                 { return r.err }
func (failedRows) CommandTag() pgconn.CommandTag                { return pgconn.CommandTag{} }
func (failedRows) FieldDescriptions() []pgconn.FieldDescription { return nil }
func (failedRows) Next() bool                                   { return false }
func (r failedRows) Scan(...any) error                          { return r.err }
func (r failedRows) Values() ([]any, error)                     { return nil, r.err }
func (failedRows) RawValues() [][]byte                          { return nil }
func (failedRows) Conn() *pgx.Conn                              { return nil }
func (failedRows) TypeMap() *pgtype.Map                         { return nil }

// row is QueryRow's result, as pgx's own: the first row, or ErrNoRows.
type row struct{ rows pgx.Rows }

func (r row) Scan(dest ...any) error {
	defer r.rows.Close()
	if err := r.rows.Err(); err != nil {
		return err
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	r.rows.Close()
	return r.rows.Err()
}
