package mail_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/internal/mail"
	"selfcare/internal/secrets"
	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func confirmation(i int) mail.Job {
	return mail.Job{EventID: uuid.New(), Kind: mail.KindOrderConfirmation, Recipient: "buyer@example.com", Language: "en",
		Params: map[string]string{
			"login": "julie.dupont", "email": "buyer@example.com", "civility": "mrs", "last_name": "Dupont", "first_name": "Julie",
			"contract_id": "OCB0000124", "contract_name": "SL_Prod", "ref": fmt.Sprintf("SLPRO124-2611-%03d", i+1),
			"name": "Expert service", "service_code": "PS104", "placed_at": "2026-11-24 09:00",
			"price": "240.60", "monthly_price": "", "initial_payment": "",
		}}
}

// TestUrgentMailIsNotQueuedBehindConfirmations enqueues a backlog of order
// confirmations, then a verification code: the code is delivered within a
// bound and before most of the confirmations, every mail is delivered in
// the end, over a handful of reused SMTP connections.
func TestUrgentMailIsNotQueuedBehindConfirmations(t *testing.T) {
	const backlog = 500
	ctx := context.Background()
	pool := testdb.New(t)
	relay := testkit.StartSMTP(t)
	keys, err := secrets.FromSecret("test-secret-0123456789abcdef0123456789")
	if err != nil {
		t.Fatal(err)
	}
	renderer, err := mail.NewRenderer("https://selfcare.example.com/", keys)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		for i := 0; i < backlog; i++ {
			if err := mail.Enqueue(ctx, tx, confirmation(i), now); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	sender := &mail.Sender{Pool: pool, Transport: &mail.SMTP{Addr: relay.Addr}, Renderer: renderer, From: "selfcare@example.com",
		Logger: slog.New(slog.DiscardHandler), Workers: 4, Urgent: 1}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); sender.Run(runCtx) }()
	defer func() { stop(); <-done }()

	// Let the backlog get going, then the code.
	deadline := time.Now().Add(20 * time.Second)
	for len(relay.All()) < 20 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	code := mail.Job{EventID: uuid.New(), Kind: mail.KindVerificationCode, Recipient: "coder@example.com", Language: "en",
		Params: map[string]string{"login": "marie.curie", "email": "coder@example.com", "civility": "mrs", "last_name": "Curie", "first_name": "Marie"}}
	if err := pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error { return mail.Enqueue(ctx, tx, code, time.Now().UTC()) }); err != nil {
		t.Fatal(err)
	}
	enqueued := time.Now()
	if _, ok := relay.NextWithin("coder@example.com", 5*time.Second); !ok {
		t.Fatalf("the verification code was not delivered within 5 s of being enqueued behind %d confirmations", backlog)
	}
	delay := time.Since(enqueued)
	before := len(relay.All()) - 1
	t.Logf("code delivered %v after it was enqueued, with %d of %d confirmations delivered", delay.Round(time.Millisecond), before, backlog)
	if delay > 2*time.Second {
		t.Errorf("the code took %v; want it within 2 s", delay)
	}
	if before > backlog/2 {
		t.Errorf("the code came after %d of %d confirmations; want it before most of them", before, backlog)
	}

	deadline = time.Now().Add(30 * time.Second)
	for len(relay.All()) < backlog+1 && time.Now().Before(deadline) {
		var pending int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL`).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if pending == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := len(relay.All()); got != backlog+1 {
		t.Fatalf("%d mails delivered, want %d", got, backlog+1)
	}
	// Lanes reuse their connections: a few, not one per mail.
	if n := relay.Connections(); n > 10 {
		t.Errorf("%d SMTP connections for %d mails; want them reused (at most one per lane, and a few redials)", n, backlog+1)
	}
}
