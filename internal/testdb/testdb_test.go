package testdb

import (
	"context"
	"os"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestParallelTestsGetDistinctMigratedEmptyDatabases(t *testing.T) {
	var (
		mu    sync.Mutex
		names = map[string]bool{}
	)
	t.Run("group", func(t *testing.T) {
		for _, name := range []string{"first", "second"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				pool := New(t)
				var database string
				var events int
				err := pool.QueryRow(t.Context(), "SELECT current_database(), (SELECT count(*) FROM events)").Scan(&database, &events)
				if err != nil {
					t.Fatal(err)
				}
				if events != 0 {
					t.Errorf("events holds %d rows, want none", events)
				}
				mu.Lock()
				defer mu.Unlock()
				if names[database] {
					t.Errorf("two tests got database %s", database)
				}
				names[database] = true
			})
		}
	})
	if len(names) != 2 {
		t.Fatalf("got databases %v, want two", names)
	}
	// Their cleanups have run: the databases are gone.
	for name := range names {
		exists, err := databaseExists(context.Background(), mustConn(t), name)
		if err != nil {
			t.Fatal(err)
		}
		if exists {
			t.Errorf("database %s still exists after its test ended", name)
		}
	}
}

func TestNewURLNamesAFreshDatabase(t *testing.T) {
	a, b := NewURL(t), NewURL(t)
	if a == b {
		t.Fatalf("NewURL returned %s twice", a)
	}
	conn, err := pgx.Connect(t.Context(), b)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var events int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM events").Scan(&events); err != nil {
		t.Fatal(err)
	}
}

func mustConn(t *testing.T) *pgx.Conn {
	t.Helper()
	conn, err := sharedServer(t).admin.Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Release)
	return conn.Conn()
}
