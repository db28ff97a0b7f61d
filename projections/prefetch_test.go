package projections_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"

	"selfcare/internal/testdb"
	"selfcare/projections"
)

// Run hands a read the rows prefetched for it, once, and only for the very
// same query and arguments: any other read, or the same one again, goes to
// the database.
func TestRunTakesOverPrefetchedRowsOnlyForTheSameReadOnce(t *testing.T) {
	ctx := ctxTimeout(t)
	pool := newPool(t, testdb.NewURL(t))
	ints := func(rows pgx.Rows, err error) []int {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[int])
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	read := projections.Read{SQL: `SELECT generate_series(1, $1::int)`, Args: []any{3}}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// The prefetched result says something the query itself would not.
	prefetched, err := conn.Query(ctx, `SELECT 42`)
	if err != nil {
		t.Fatal(err)
	}
	pctx := projections.WithPrefetched(ctx, read, prefetched)

	if got := ints(projections.Run(pctx, pool, projections.Read{SQL: read.SQL, Args: []any{2}})); len(got) != 2 {
		t.Errorf("other arguments were answered with %v, want the database's [1 2]", got)
	}
	if got := ints(projections.Run(pctx, pool, projections.Read{SQL: `SELECT generate_series(1, $1::int) `, Args: []any{3}})); len(got) != 3 {
		t.Errorf("another query was answered with %v, want the database's [1 2 3]", got)
	}
	if got := ints(projections.Run(pctx, pool, read)); len(got) != 1 || got[0] != 42 {
		t.Errorf("the same read was answered with %v, want the prefetched [42]", got)
	}
	if got := ints(projections.Run(pctx, pool, read)); len(got) != 3 {
		t.Errorf("the same read again was answered with %v, want the database's [1 2 3]", got)
	}
	if got := ints(projections.Run(context.Background(), pool, read)); len(got) != 3 {
		t.Errorf("without prefetched rows: %v", got)
	}
}
