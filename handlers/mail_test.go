package handlers_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"selfcare/domain/money"
	"selfcare/domain/order"
	"selfcare/eventstore"
	"selfcare/internal/testkit"
)

func TestAFailingRelayDelaysOnlyItsEmailAndItIsRetried(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp))
	a := env.NewContract("A")
	b := env.NewContract("B")
	aEmail, bEmail := a.ReferentLogin+"@example.com", b.ReferentLogin+"@example.com"
	isReset := func(m testkit.Mail) bool { return strings.Contains(m.Subject, "reset") }

	// Only the reset email is refused, not the contract's own mails to the
	// same address (access, password set), which come at their own pace.
	smtp.RefuseTo(aEmail, 2, "password reset")
	start := time.Now()
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": a.ReferentLogin}), http.StatusAccepted)
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": b.ReferentLogin}), http.StatusAccepted)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the requests waited for the mail: %v", d)
	}
	bMail := smtp.NextMatching(t, bEmail, isReset)
	bAt := time.Now()
	aMail := smtp.NextMatching(t, aEmail, isReset)
	if time.Now().Before(bAt) || smtp.Refused() < 2 {
		t.Fatalf("refused %d times", smtp.Refused())
	}
	// The retried email is the same link: the token is derived again.
	token := linkToken(t, aMail)
	linkToken(t, bMail)
	testkit.Expect(t, resetPassword(env, token, "Nouveau.Mdp-42"), http.StatusOK)
	var attempts int
	if err := env.Pool.QueryRow(context.Background(), `SELECT attempts FROM mail_outbox WHERE recipient = $1 AND kind = 'password_reset'`, aEmail).Scan(&attempts); err != nil {
		t.Fatal(err)
	}
	if attempts != 3 {
		t.Fatalf("attempts = %d, want 3", attempts)
	}
}

func TestWithoutARelayMailsAreWrittenAsFiles(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("A")
	testkit.Expect(t, env.Post("/api/v1/password-requests", "", map[string]string{"login": c.ReferentLogin}), http.StatusAccepted)
	dir := filepath.Join(env.Config.DataDir, "mail")
	deadline := time.Now().Add(15 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "token=") && strings.Contains(string(b), "Subject: Your password reset request") {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no .eml with the link in %s (%d files)", dir, len(files))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestAnOrderIsConfirmedByEmail(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp))
	c := env.NewContract("SL_Prod")
	// Orders are another feature's; the event is what the email needs.
	monthly, initial := money.MustParse("24.39"), money.MustParse("513.02")
	placed := order.OrderPlaced{
		Ref: "SLPROD-2611-001", Seq: 1, ContractID: c.ID, ServiceCode: "AD135", ServiceName: "Elastic Cloud Server flavor reservation",
		SubscriptionName: "Reservation c2.large 2 years with upfront", Kind: "reservation",
		Parameters: map[string]string{"region": "eu-west-0", "flavor": "c2.large"}, Price: monthly,
		MonthlyPrice: &monthly, InitialPayment: &initial, DurationMonths: 24, PlacedBy: c.ReferentLogin, PlacedAt: time.Now().UTC(),
	}
	if _, err := env.History().Append(testkit.UserActor(c.ReferentLogin), testkit.OrdersStream(c.ID), c.ID, placed); err != nil {
		t.Fatal(err)
	}
	m := smtp.NextMatching(t, c.ReferentLogin+"@example.com", func(m testkit.Mail) bool { return strings.Contains(m.Subject, "order") })
	for _, want := range []string{"Confirmation of your order SLPROD-2611-001", "Reservation c2.large 2 years with upfront", "€24.39", "€513.02", c.ID} {
		if !strings.Contains(m.Subject+"\n"+m.Text, want) {
			t.Errorf("order email lacks %q:\n%s", want, m.Text)
		}
	}
}

func TestARedeliveredEventDoesNotReactTwice(t *testing.T) {
	t.Parallel()
	smtp := testkit.StartSMTP(t)
	env := testkit.New(t, testkit.WithSMTP(smtp))
	_, login, email := newUser(t, env, "en")
	smtp.NextMatching(t, email, func(m testkit.Mail) bool { return strings.HasPrefix(m.Subject, "Welcome") })

	ctx := context.Background()
	recs, _, err := env.Server.Store.ReadAll(ctx, env.Pool, 0, eventstore.ReadOptions{Types: []string{"UserAddedToContract"}})
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	for range 2 {
		if err := env.Server.Account.Reactions.Handle(ctx, recs[0]); err != nil {
			t.Fatal(err)
		}
	}
	var links, mails int
	if err := env.Pool.QueryRow(ctx, `
SELECT (SELECT count(*) FROM events WHERE event_type = 'PasswordResetRequested' AND stream_id = 'identity-' || lower($1)),
       (SELECT count(*) FROM mail_outbox WHERE kind = 'access')`, login).Scan(&links, &mails); err != nil {
		t.Fatal(err)
	}
	if links != 1 || mails != 1 {
		t.Fatalf("after redeliveries: %d links, %d access emails; want 1 and 1", links, mails)
	}
}
