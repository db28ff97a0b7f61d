package projections

import (
	"context"
	"reflect"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Read is a query of a read model as a handler runs it. The authorizer of
// an endpoint that declares its Read sends it in the same round trip as
// the caller's session check (a pipelined batch), and hands its rows to
// the handler only once the caller is allowed; Run takes them over.
type Read struct {
	SQL  string
	Args []any
}

type prefetchKey struct{}

type prefetched struct {
	read Read
	rows pgx.Rows
	used bool
}

// WithPrefetched returns ctx carrying rows, the result of read already
// sent to the database: the first Run of the very same read in ctx
// returns them instead of running it.
func WithPrefetched(ctx context.Context, read Read, rows pgx.Rows) context.Context {
	return context.WithValue(ctx, prefetchKey{}, &prefetched{read: read, rows: rows})
}

// Run runs read on pool, or returns the rows prefetched for it (once:
// a handler running the same read twice runs it again).
func Run(ctx context.Context, pool *pgxpool.Pool, read Read) (pgx.Rows, error) {
	if p, _ := ctx.Value(prefetchKey{}).(*prefetched); p != nil && !p.used && p.read.SQL == read.SQL &&
		reflect.DeepEqual(p.read.Args, read.Args) {
		p.used = true
		return p.rows, nil
	}
	return pool.Query(ctx, read.SQL, read.Args...)
}
