package mail

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/internal/testdb"
)

// The sender's lease and "sent" mark commit without waiting for the WAL
// flush: the statement itself sets synchronous_commit for its own
// transaction. Run here inside an explicit transaction, the setting is
// still in force after each one, and each did its work.
func TestLeaseAndSentMarkCommitAsynchronously(t *testing.T) {
	ctx := t.Context()
	pool := testdb.New(t)
	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	now := time.Now().UTC()
	job := Job{EventID: uuid.New(), Kind: "order_confirmation", Recipient: "a@example.com", Language: "en", Params: map[string]string{}}
	if err := Enqueue(ctx, tx, job, now.Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	setting := func() string {
		t.Helper()
		var v string
		if err := tx.QueryRow(ctx, `SELECT current_setting('synchronous_commit')`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	// Test clusters run with synchronous_commit off: on, as in production.
	if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true)`); err != nil {
		t.Fatal(err)
	}
	if v := setting(); v != "on" {
		t.Fatalf("synchronous_commit %q before the sender's statements, want on", v)
	}
	var id int64
	if err := tx.QueryRow(ctx, leaseSQL, now, now.Add(lease), batch, false).Scan(&id, new(uuid.UUID), new(string), new(string), new(string), new([]byte), new(int)); err != nil {
		t.Fatalf("lease: %v", err)
	}
	if v := setting(); v != "off" {
		t.Fatalf("synchronous_commit %q after the lease, want off", v)
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('synchronous_commit', 'on', true)`); err != nil {
		t.Fatal(err)
	}
	tag, err := tx.Exec(ctx, markSentSQL, id, now)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("mark sent: %v, %d rows", err, tag.RowsAffected())
	}
	if v := setting(); v != "off" {
		t.Fatalf("synchronous_commit %q after the sent mark, want off", v)
	}
}
