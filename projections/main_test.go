package projections_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
	"selfcare/projections"
)

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runHelper())
	}
	os.Exit(testdb.Main(m))
}

const testTimeout = 60 * time.Second

func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

func newStore(t *testing.T) *eventstore.Store {
	t.Helper()
	return eventstore.New(newPool(t, testdb.NewURL(t)), clock.Real{})
}

// newPool opens a pool large enough for a runner, a reader and writers at
// once (the default has as many connections as CPUs).
func newPool(t *testing.T, url string) *pgxpool.Pool {
	t.Helper()
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	cfg.MaxConns = 16
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// counter is the test projector: it counts each stream's events, and
// refuses an event that is not the next of its stream, so that an event
// applied twice or skipped stops it (and the read model then differs from
// a recount).
func counter(version int, perEvent time.Duration) projections.Projector {
	return projections.Projector{
		Name:    "counts",
		Version: version,
		Schema: fmt.Sprintf(`CREATE TABLE counts (stream text PRIMARY KEY, n bigint NOT NULL);
COMMENT ON TABLE counts IS 'version %d'`, version),
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			time.Sleep(perEvent)
			var n int64
			err := tx.QueryRow(ctx, `
INSERT INTO counts (stream, n) VALUES ($1, 1)
ON CONFLICT (stream) DO UPDATE SET n = counts.n + 1 RETURNING n`, rec.StreamID).Scan(&n)
			if err != nil {
				return err
			}
			if n != rec.Version {
				return fmt.Errorf("event %d of %s is its stream's event number %d: applied twice or out of order", rec.Version, rec.StreamID, n)
			}
			return nil
		},
	}
}

// readModel returns the counter's read model.
func readModel(ctx context.Context, q eventstore.Querier) (map[string]int64, error) {
	return countRows(ctx, q, `SELECT stream, n FROM rm_counts.counts`)
}

// recount counts each stream's events in the events table, up to position
// upTo (all when upTo is 0).
func recount(ctx context.Context, q eventstore.Querier, upTo int64) (map[string]int64, error) {
	return countRows(ctx, q, `SELECT stream_id, count(*) FROM events WHERE $1::bigint = 0 OR position <= $1 GROUP BY stream_id`, upTo)
}

func countRows(ctx context.Context, q eventstore.Querier, sql string, args ...any) (map[string]int64, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	m := map[string]int64{}
	for rows.Next() {
		var k string
		var n int64
		if err := rows.Scan(&k, &n); err != nil {
			rows.Close()
			return nil, err
		}
		m[k] = n
	}
	return m, rows.Err()
}

func sameCounts(a, b map[string]int64) error {
	for k, n := range a {
		if b[k] != n {
			return fmt.Errorf("stream %s: read model %d, events %d", k, n, b[k])
		}
	}
	for k, n := range b {
		if _, ok := a[k]; !ok {
			return fmt.Errorf("stream %s: missing from the read model (%d events)", k, n)
		}
	}
	return nil
}

// checkpoint returns the counter's checkpoint.
func checkpoint(ctx context.Context, q eventstore.Querier) (position int64, version int, err error) {
	err = q.QueryRow(ctx, `SELECT position, version FROM projection_checkpoints WHERE name = 'counts'`).Scan(&position, &version)
	return position, version, err
}

// appendOne appends one event to one of a few streams.
func appendOne(ctx context.Context, s *eventstore.Store, i int) (eventstore.AppendResult, error) {
	return s.Append(ctx, fmt.Sprintf("stream-%d", i%13), eventstore.Any,
		eventstore.Event{ID: uuid.New(), Type: "Tick", Data: []byte(fmt.Sprintf(`{"i": %d}`, i))})
}

// appendMany appends n events in transactions of 50.
func appendMany(t *testing.T, s *eventstore.Store, n int) {
	t.Helper()
	ctx := t.Context()
	for i := 0; i < n; i += 50 {
		err := s.Transact(ctx, func(tx *eventstore.Tx) error {
			for j := i; j < min(i+50, n); j++ {
				if _, err := tx.Append(ctx, fmt.Sprintf("stream-%d", j%13), eventstore.Any,
					eventstore.Event{ID: uuid.New(), Type: "Tick", Data: []byte(`{}`)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// run runs the runner until the test ends.
func run(t *testing.T, r *projections.Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("runner: %v", err)
		}
	})
}

// lastPosition is the position of the last event appended, visible to
// gap-safe readers or not yet.
func lastPosition(t *testing.T, s *eventstore.Store) int64 {
	t.Helper()
	var last int64
	if err := s.Pool().QueryRow(t.Context(), `SELECT coalesce(max(position), 0) FROM events`).Scan(&last); err != nil {
		t.Fatal(err)
	}
	return last
}

// head is the highest position a gap-safe reader may read now.
func head(t *testing.T, s *eventstore.Store) int64 {
	t.Helper()
	h, err := s.Head(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return h
}
