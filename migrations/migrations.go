// Package migrations holds the numbered SQL migrations of selfcare's own
// tables (event store, checkpoints, credentials, ...) and applies them.
// Read models are not here: each projector owns its schema (see projections).
package migrations

import (
	"context"
	"embed"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed *.sql
var files embed.FS

// Up applies every pending migration, each in its own transaction.
// Concurrent callers (several servers starting at once) are serialised by
// goose's session lock.
func Up(ctx context.Context, pool *pgxpool.Pool) error {
	provider, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer provider.Close()
	if _, err := provider.Up(ctx); err != nil {
		return fmt.Errorf("apply migrations: %w", err)
	}
	return nil
}

// DownTo rolls back every migration above version, newest first: tests
// use it to give a database the shape it had before a migration.
func DownTo(ctx context.Context, pool *pgxpool.Pool, version int64) error {
	provider, err := newProvider(pool)
	if err != nil {
		return err
	}
	defer provider.Close()
	if _, err := provider.DownTo(ctx, version); err != nil {
		return fmt.Errorf("roll migrations back to %d: %w", version, err)
	}
	return nil
}

// Pending reports how many migrations have not been applied yet.
func Pending(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	provider, err := newProvider(pool)
	if err != nil {
		return 0, err
	}
	defer provider.Close()
	statuses, err := provider.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("migration status: %w", err)
	}
	n := 0
	for _, s := range statuses {
		if s.State == goose.StatePending {
			n++
		}
	}
	return n, nil
}

func newProvider(pool *pgxpool.Pool) (*goose.Provider, error) {
	db := stdlib.OpenDBFromPool(pool)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 120))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations lock: %w", err)
	}
	// Out of order: migrations are numbered by area (0300 security, 0400
	// command cost, 0500 OpenID, 0600 NATS...), so a database may have a
	// higher one before a lower one lands; each stands alone.
	provider, err := goose.NewProvider(goose.DialectPostgres, db, files, goose.WithSessionLocker(locker), goose.WithAllowOutofOrder(true))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return provider, nil
}
