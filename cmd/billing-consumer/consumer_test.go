package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/shopspring/decimal"

	"selfcare/domain/billing"
	"selfcare/domain/subscription"
	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// buildConsumer builds this program, as an operator would deploy it. It
// returns "" (after t.Error) if it cannot; it may run in a goroutine.
func buildConsumer(t *testing.T) string {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "billing-consumer")
	if out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Errorf("go build: %v\n%s", err, out)
		return ""
	}
	return bin
}

// recountSQL counts, per contract, what a billing consumer follows,
// straight from the events ($1: the followed types).
const recountSQL = `
SELECT data->>'contract_id',
       count(*) FILTER (WHERE event_type = 'OrderPlaced'),
       count(*) FILTER (WHERE event_type = 'OrderCompleted'),
       count(*) FILTER (WHERE event_type = 'OrderRejected'),
       count(*) FILTER (WHERE event_type = 'SubscriptionStarted'),
       count(*) FILTER (WHERE event_type = 'SubscriptionEnded'),
       count(*) FILTER (WHERE event_type = 'InvoiceIssued'),
       coalesce(sum((data->'total_excl_vat'->>'amount')::numeric) FILTER (WHERE event_type = 'InvoiceIssued'), 0)::text
FROM events WHERE event_type = ANY($1) GROUP BY 1 ORDER BY 1`

// heldSQL reads the same totals from the ledger of the named consumer.
func heldSQL(consumer string) string {
	return `
SELECT contract_id, orders_placed, orders_completed, orders_rejected, subscriptions_started, subscriptions_ended,
       invoices, revenue_excl_vat::text
FROM billing_contracts WHERE consumer = '` + consumer + `' ORDER BY 1`
}

// lockedBuffer collects a subprocess's output.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type consumer struct {
	cmd            *exec.Cmd
	stdout, stderr *lockedBuffer
	done           chan error
}

func startConsumer(t *testing.T, bin, selfcareURL, dbURL string) *consumer {
	t.Helper()
	// Small pages and short polls: many checkpoints, so a kill lands mid-stream.
	return startConsumerWith(t, bin, []string{"SELFCARE_URL=" + selfcareURL, "SELFCARE_FEED_TOKEN=" + testkit.AuditorToken,
		"CONSUMER_DATABASE_URL=" + dbURL}, "-wait", "1s", "-limit", "3")
}

// startConsumerWith starts the program with env added to the
// environment and args.
func startConsumerWith(t *testing.T, bin string, env []string, args ...string) *consumer {
	t.Helper()
	c := &consumer{stdout: &lockedBuffer{}, stderr: &lockedBuffer{}, done: make(chan error, 1)}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(os.Environ(), env...)
	c.cmd.Stdout, c.cmd.Stderr = c.stdout, c.stderr
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { c.done <- c.cmd.Wait() }()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
		if t.Failed() {
			t.Logf("consumer %d stderr:\n%s", c.cmd.Process.Pid, c.stderr)
		}
	})
	return c
}

// kill9 kills the consumer the hard way: no deferred call, no rollback
// but the database's own.
func (c *consumer) kill9(t *testing.T) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := <-c.done; err == nil {
		t.Fatal("the consumer exited normally after SIGKILL")
	}
	c.done <- nil // for the cleanup
}

func checkpoint(t *testing.T, pool *pgxpool.Pool) int64 {
	t.Helper()
	return checkpointOf(t, pool, "billing")
}

func checkpointOf(t *testing.T, pool *pgxpool.Pool, consumer string) int64 {
	t.Helper()
	var after int64
	err := pool.QueryRow(context.Background(), `SELECT after_position FROM billing_checkpoints WHERE consumer = $1`, consumer).Scan(&after)
	if err != nil && err != pgx.ErrNoRows && !strings.Contains(err.Error(), "does not exist") {
		t.Fatal(err)
	}
	return after
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestConsumerCountsEachEventOnceAcrossKills runs the real program against
// a real server while history is being made, kills it with SIGKILL twice
// mid-stream, restarts it, and checks its totals against a recount of the
// events table.
func TestConsumerCountsEachEventOnceAcrossKills(t *testing.T) {
	t.Parallel()
	built := make(chan string, 1)
	go func() { built <- buildConsumer(t) }() // meanwhile, the server starts
	env := testkit.New(t)
	consumerDB := testdb.NewURL(t)
	pool, err := pgxpool.New(context.Background(), consumerDB)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)

	contracts := []testkit.Contract{env.NewContract("SL_Prod"), env.NewContract("SL_Dev"), env.NewContract("Billing test")}
	bin := <-built
	if bin == "" {
		t.FailNow()
	}
	first := startConsumer(t, bin, env.URL, consumerDB)

	// History keeps coming while consumers come and go.
	const rounds = 6
	h := env.History()
	produced := make(chan error, len(contracts))
	var progress sync.WaitGroup
	progress.Add(len(contracts))
	for _, c := range contracts {
		go func() {
			produced <- produce(h, c, rounds, progress.Done)
		}()
	}
	progress.Wait() // every producer is under way

	waitFor(t, "the first consumer to record a few pages", 20*time.Second, func() bool { return checkpoint(t, pool) > 0 })
	first.kill9(t)
	killedAt := checkpoint(t, pool)
	second := startConsumer(t, bin, env.URL, consumerDB)
	waitFor(t, "the second consumer to move on", 20*time.Second, func() bool { return checkpoint(t, pool) > killedAt })
	second.kill9(t)
	third := startConsumer(t, bin, env.URL, consumerDB)

	for range contracts {
		if err := <-produced; err != nil {
			t.Fatal(err)
		}
	}
	var last int64
	if err := env.Pool.QueryRow(context.Background(), `SELECT max(position) FROM events WHERE event_type = ANY($1)`, followedTypes()).Scan(&last); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the third consumer to catch up", 30*time.Second, func() bool { return checkpoint(t, pool) >= last })
	if err := third.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := <-third.done; err != nil {
		t.Fatalf("the consumer did not stop cleanly on SIGTERM: %v\n%s", err, third.stderr)
	}
	third.done <- nil

	// Per contract: what the consumer holds, what the events say.
	want := totals(t, env.Pool, recountSQL, followedTypes())
	got := totals(t, pool, heldSQL("billing"))
	if len(want) != len(contracts) {
		t.Fatalf("the events hold %d contracts' billing: %v", len(want), want)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the consumer counted\n%v\nthe events say\n%v", got, want)
	}
	const periodRecount = `
SELECT data->>'contract_id', data->>'period', count(*), sum((data->'total_excl_vat'->>'amount')::numeric)::text
FROM events WHERE event_type = 'InvoiceIssued' GROUP BY 1, 2 ORDER BY 1, 2`
	const periodHeld = `
SELECT contract_id, period, invoices, revenue_excl_vat::text
FROM billing_revenue WHERE consumer = 'billing' ORDER BY 1, 2`
	if w, g := periodTotals(t, env.Pool, periodRecount), periodTotals(t, pool, periodHeld); fmt.Sprint(w) != fmt.Sprint(g) || len(w) < rounds {
		t.Fatalf("revenue per period: the consumer holds\n%v\nthe events say\n%v", g, w)
	}

	// The last line printed for each contract is its final total.
	lastLine := map[string]string{}
	line := regexp.MustCompile(`^(OCB\d{7})  invoices: \d+  revenue excl\. VAT: -?€[0-9,]+\.\d\d  orders: \d+ placed / \d+ completed  subscriptions: -?\d+ in progress$`)
	for _, c := range []*consumer{first, second, third} {
		for _, l := range strings.Split(strings.TrimSpace(c.stdout.String()), "\n") {
			if l == "" {
				continue
			}
			m := line.FindStringSubmatch(l)
			if m == nil {
				t.Fatalf("summary line %q", l)
			}
			lastLine[m[1]] = l
		}
	}
	for _, w := range want {
		s := summary{Contract: w.contract, Invoices: w.counts[5], Revenue: w.revenue,
			OrdersPlaced: w.counts[0], OrdersCompleted: w.counts[1], SubscriptionsRunning: w.counts[3] - w.counts[4]}
		if lastLine[w.contract] != s.String() {
			t.Errorf("last summary of %s: %q, want %q", w.contract, lastLine[w.contract], s)
		}
	}
}

// produce makes rounds of billing history for contract c: a one-off order
// and a reservation, both completed; the subscription started (and, one
// round in two, ended); every fourth round an order left in progress; and
// the invoice of one more month each round.
func produce(h testkit.History, c testkit.Contract, rounds int, started func()) error {
	return produceWhile(h, c, func(i int) bool { return i < rounds }, started)
}

// produceWhile is produce for as many rounds as more allows.
func produceWhile(h testkit.History, c testkit.Contract, more func(round int) bool, started func()) error {
	user, op, sys := testkit.UserActor(c.ReferentLogin), testkit.OperatorActor(), testkit.SystemActor("scheduler")
	period := billing.PeriodOf(subscription.DateOf(time.Now()))
	for i := 0; more(i); i++ {
		oneOff, err := h.PlaceOrder(user, c.ID, "PS104", nil)
		if err != nil {
			return err
		}
		if i == 0 {
			started()
		}
		if err := h.CompleteOrder(op, c.ID, oneOff); err != nil {
			return err
		}
		flavor := []string{"c2.large", "c2.xlarge", "c2.2xlarge"}[i%3]
		reservation, err := h.PlaceOrder(user, c.ID, "AD135", map[string]any{
			"region": "eu-west-0", "flavor": flavor, "duration_months": 12, "upfront": i%2 == 1,
		})
		if err != nil {
			return err
		}
		if err := h.CompleteOrder(op, c.ID, reservation); err != nil {
			return err
		}
		today := subscription.DateOf(time.Now()).FirstOfNextMonth() // its start date
		if i%2 == 1 {
			today = today.AddMonths(13) // past its end date: started and ended
		}
		if err := h.AdvanceSubscription(sys, c.ID, reservation, today); err != nil {
			return err
		}
		if i%4 == 3 {
			if _, err := h.PlaceOrder(user, c.ID, "PS108", nil); err != nil {
				return err
			}
		}
		if _, err := h.IssueInvoice(sys, c.ID, period); err != nil {
			return err
		}
		period = period.Next()
	}
	return nil
}

type contractTotals struct {
	contract string
	counts   [6]int64 // placed, completed, rejected, started, ended, invoices
	revenue  decimal.Decimal
}

func (c contractTotals) String() string {
	return fmt.Sprintf("%s %v %s", c.contract, c.counts, c.revenue.StringFixed(2))
}

func totals(t *testing.T, pool *pgxpool.Pool, sql string, args ...any) []contractTotals {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql, args...)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (contractTotals, error) {
		var c contractTotals
		var revenue string
		err := r.Scan(&c.contract, &c.counts[0], &c.counts[1], &c.counts[2], &c.counts[3], &c.counts[4], &c.counts[5], &revenue)
		if err == nil {
			c.revenue, err = decimal.NewFromString(revenue)
		}
		return c, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func periodTotals(t *testing.T, pool *pgxpool.Pool, sql string) []string {
	t.Helper()
	rows, err := pool.Query(context.Background(), sql)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (string, error) {
		var contract, period, revenue string
		var n int64
		if err := r.Scan(&contract, &period, &n, &revenue); err != nil {
			return "", err
		}
		d, err := decimal.NewFromString(revenue)
		return fmt.Sprintf("%s %s %d %s", contract, period, n, d.StringFixed(2)), err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}
