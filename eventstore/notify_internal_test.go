package eventstore

import (
	"context"
	"testing"
	"time"

	"selfcare/internal/testdb"
)

// The notification of a commit commits without waiting for the WAL
// flush (a NOTIFY writes a commit record): the statement sets
// synchronous_commit off for its own transaction, and still notifies.
func TestTheCommitNotificationDoesNotWaitForTheWALFlush(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool := testdb.New(t)
	listener, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer listener.Release()
	if _, err := listener.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		t.Fatal(err)
	}
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	// Test clusters run with synchronous_commit off: on, as in production.
	if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true)`); err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(ctx, notifySQL, notifyChannel, "store-id"); err != nil {
		t.Fatal(err)
	}
	var setting string
	if err := tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&setting); err != nil {
		t.Fatal(err)
	}
	if setting != "off" {
		t.Errorf("synchronous_commit %q after the notification, want off", setting)
	}
	if err := tx.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	n, err := listener.Conn().WaitForNotification(wctx)
	if err != nil || n.Payload != "store-id" {
		t.Errorf("notification %+v, %v; want the store's id", n, err)
	}
}
