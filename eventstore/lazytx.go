package eventstore

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// lazyTx is a transaction whose BEGIN goes with its first statements
// instead of in a round trip of its own: queued first in its first batch
// (a command's loads), or sent just before its first other statement. A
// transaction that sends nothing is never begun, and its Commit and
// Rollback send nothing either. It is a pgx.Tx, so that Tx.Pgx serves
// every caller as before.
type lazyTx struct {
	conn *pgxpool.Conn
	tx   pgx.Tx // nil until begun
}

var _ pgx.Tx = (*lazyTx)(nil)

func (l *lazyTx) begun(ctx context.Context) (pgx.Tx, error) {
	if l.tx == nil {
		tx, err := l.conn.Begin(ctx)
		if err != nil {
			return nil, err
		}
		l.tx = tx
	}
	return l.tx, nil
}

// SendBatch sends b, with the transaction's BEGIN queued first if it has
// not begun. The results are b's own: the BEGIN's is read before them.
func (l *lazyTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if l.tx != nil {
		return l.tx.SendBatch(ctx, b)
	}
	withBegin := &pgx.Batch{}
	withBegin.BeginTx(pgx.TxOptions{})
	withBegin.QueuedQueries = append(withBegin.QueuedQueries, b.QueuedQueries...)
	br := l.conn.SendBatch(ctx, withBegin)
	l.tx = br.Tx()
	return &afterBegin{BatchResults: br}
}

func (l *lazyTx) Begin(ctx context.Context) (pgx.Tx, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Begin(ctx)
}

// Commit commits the transaction; one that never began has nothing to
// commit.
func (l *lazyTx) Commit(ctx context.Context) error {
	if l.tx == nil {
		return nil
	}
	return l.tx.Commit(ctx)
}

// Rollback rolls the transaction back; one that never began has nothing
// to roll back.
func (l *lazyTx) Rollback(ctx context.Context) error {
	if l.tx == nil {
		return nil
	}
	return l.tx.Rollback(ctx)
}

func (l *lazyTx) CopyFrom(ctx context.Context, table pgx.Identifier, columns []string, src pgx.CopyFromSource) (int64, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return 0, err
	}
	return tx.CopyFrom(ctx, table, columns, src)
}

// LargeObjects begins the transaction if it has not (nothing here uses
// large objects; the interface asks for them).
func (l *lazyTx) LargeObjects() pgx.LargeObjects {
	tx, err := l.begun(context.Background())
	if err != nil {
		return pgx.LargeObjects{} // fails on use
	}
	return tx.LargeObjects()
}

func (l *lazyTx) Prepare(ctx context.Context, name, sql string) (*pgconn.StatementDescription, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Prepare(ctx, name, sql)
}

func (l *lazyTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return pgconn.CommandTag{}, err
	}
	return tx.Exec(ctx, sql, args...)
}

func (l *lazyTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	tx, err := l.begun(ctx)
	if err != nil {
		return nil, err
	}
	return tx.Query(ctx, sql, args...)
}

func (l *lazyTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	tx, err := l.begun(ctx)
	if err != nil {
		return errRow{err}
	}
	return tx.QueryRow(ctx, sql, args...)
}

func (l *lazyTx) Conn() *pgx.Conn { return l.conn.Conn() }

// errRow is a row whose Scan fails with err.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// afterBegin is the results of a batch sent with the BEGIN queued first:
// the BEGIN's result is read (and its error returned) before the first of
// the batch's own.
type afterBegin struct {
	pgx.BatchResults
	skipped bool
	err     error
}

func (a *afterBegin) skip() error {
	if !a.skipped {
		a.skipped = true
		_, a.err = a.BatchResults.Exec()
	}
	return a.err
}

func (a *afterBegin) Exec() (pgconn.CommandTag, error) {
	if err := a.skip(); err != nil {
		return pgconn.CommandTag{}, err
	}
	return a.BatchResults.Exec()
}

func (a *afterBegin) Query() (pgx.Rows, error) {
	if err := a.skip(); err != nil {
		return nil, err
	}
	return a.BatchResults.Query()
}

func (a *afterBegin) QueryRow() pgx.Row {
	if err := a.skip(); err != nil {
		return errRow{err}
	}
	return a.BatchResults.QueryRow()
}
