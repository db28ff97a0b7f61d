package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/natsfwd"
	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
	"selfcare/internal/testnats"
)

// natsRig is what the NATS tests share: a nats-server, a selfcare test
// server making history, the consumers' database and the two programs.
type natsRig struct {
	nats       *testnats.Server
	env        *testkit.Env
	dbURL      string // selfcare's database, for the forwarding processes
	consumerDB string
	pool       *pgxpool.Pool // on consumerDB
	selfcare   string
	consumer   string
	contracts  []testkit.Contract
	finished   atomic.Int32 // producers done
}

// midStream fails the test if history is no longer being made: each kill
// must land mid-stream.
func (r *natsRig) midStream(t *testing.T, what string) {
	t.Helper()
	if n := r.finished.Load(); n > 0 {
		t.Fatalf("%s: %d producers had already finished, the kill is not mid-stream", what, n)
	}
}

func newNATSRig(t *testing.T) *natsRig {
	t.Helper()
	r := &natsRig{nats: testnats.Start(t)}
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.consumer = buildConsumer(t) }()
	go func() { defer wg.Done(); r.selfcare = buildSelfcare(t) }()
	r.env = testkit.New(t)
	r.dbURL = r.env.Pool.Config().ConnString()
	r.consumerDB = testdb.NewURL(t)
	var err error
	if r.pool, err = pgxpool.New(context.Background(), r.consumerDB); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pool.Close)
	r.contracts = []testkit.Contract{r.env.NewContract("SL_Prod"), r.env.NewContract("SL_Dev"), r.env.NewContract("Billing test")}
	wg.Wait()
	if r.consumer == "" || r.selfcare == "" {
		t.FailNow()
	}
	return r
}

// buildSelfcare builds selfcare, whose serve forwards to NATS.
func buildSelfcare(t *testing.T) string {
	bin := filepath.Join(t.TempDir(), "selfcare")
	if out, err := exec.Command("go", "build", "-o", bin, "selfcare/cmd/selfcare").CombinedOutput(); err != nil {
		t.Errorf("go build selfcare: %v\n%s", err, out)
		return ""
	}
	return bin
}

// produce makes history on every contract until stop is called; wait
// returns the first error. r.midStream fails the test if history is no
// longer being made.
func (r *natsRig) produce(t *testing.T) (stop func(), wait func()) {
	var stopping atomic.Bool
	errs := make(chan error, len(r.contracts))
	var started sync.WaitGroup
	started.Add(len(r.contracts))
	h := r.env.History()
	for _, c := range r.contracts {
		go func() {
			defer r.finished.Add(1)
			errs <- produceWhile(h, c, func(i int) bool { return !stopping.Load() && i < 200 }, started.Done)
		}()
	}
	started.Wait()
	return func() { stopping.Store(true) }, func() {
		t.Helper()
		for range r.contracts {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
	}
}

// serveProcess is a selfcare serve forwarding to NATS.
type serveProcess struct {
	cmd  *exec.Cmd
	addr string
	logs *lockedBuffer
	done chan error
}

func (r *natsRig) startServe(t *testing.T) *serveProcess {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &serveProcess{addr: l.Addr().String(), logs: &lockedBuffer{}, done: make(chan error, 1)}
	l.Close()
	p.cmd = exec.Command(r.selfcare, "serve")
	p.cmd.Env = append(os.Environ(), "DATABASE_URL="+r.dbURL, "SELFCARE_ADDR="+p.addr, "SELFCARE_DATA_DIR="+t.TempDir(),
		"SELFCARE_NATS_URL="+r.nats.URL, "SELFCARE_SECRET=test-secret-0123456789abcdef0123456789")
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait() }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		p.done <- nil
		if t.Failed() {
			t.Logf("selfcare serve %s logs:\n%s", p.addr, p.logs)
		}
	})
	waitFor(t, "selfcare serve to be ready", 60*time.Second, func() bool {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return p
}

func (p *serveProcess) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	p.done <- nil
}

// forwarding is what /readyz says of this process's forwarder.
func (p *serveProcess) forwarding() bool {
	resp, err := http.Get("http://" + p.addr + "/readyz")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var ready struct {
		NATSForwarder *natsfwd.Status `json:"nats_forwarder"`
	}
	return json.NewDecoder(resp.Body).Decode(&ready) == nil && ready.NATSForwarder != nil && ready.NATSForwarder.Forwarding
}

// forwarded is the forwarder's checkpoint.
func (r *natsRig) forwarded(t *testing.T) int64 {
	t.Helper()
	var pos int64
	err := r.env.Pool.QueryRow(context.Background(), `SELECT coalesce((SELECT position FROM nats_forwarder), 0)`).Scan(&pos)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

func (r *natsRig) startNATSConsumer(t *testing.T, name string, args ...string) *consumer {
	t.Helper()
	// A short ack wait: the message a killed consumer held comes again soon.
	args = append([]string{"-nats", r.nats.URL, "-name", name, "-ack-wait", "2s"}, args...)
	return startConsumerWith(t, r.consumer, []string{"CONSUMER_DATABASE_URL=" + r.consumerDB}, args...)
}

// lastFollowed is the position of the last event billing counts (of one
// contract, if not "").
func (r *natsRig) lastFollowed(t *testing.T, contract string) int64 {
	t.Helper()
	var last int64
	err := r.env.Pool.QueryRow(context.Background(), `
SELECT coalesce(max(position), 0) FROM events WHERE event_type = ANY($1) AND ($2 = '' OR data->>'contract_id' = $2)`,
		followedTypes(), contract).Scan(&last)
	if err != nil {
		t.Fatal(err)
	}
	return last
}

// settle stops the history, waits for the forwarder and the consumers to
// have everything, and lets the HTTP-feed consumer "http" build its
// ledger beside them.
func (r *natsRig) settle(t *testing.T, stop, wait func(), consumers map[string]string) {
	t.Helper()
	stop()
	wait()
	head, err := r.env.Server.Store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the forwarder to forward everything", 30*time.Second, func() bool { return r.forwarded(t) >= head })
	for name, contract := range consumers {
		last := r.lastFollowed(t, contract)
		waitFor(t, "consumer "+name+" to catch up", 30*time.Second, func() bool { return checkpointOf(t, r.pool, name) >= last })
	}
	startConsumerWith(t, r.consumer, []string{"SELFCARE_URL=" + r.env.URL, "SELFCARE_FEED_TOKEN=" + testkit.AuditorToken,
		"CONSUMER_DATABASE_URL=" + r.consumerDB}, "-name", "http", "-wait", "1s")
	last := r.lastFollowed(t, "")
	waitFor(t, "the HTTP-feed consumer to catch up", 30*time.Second, func() bool { return checkpointOf(t, r.pool, "http") >= last })
}

// ledger is a consumer's whole ledger, as text.
func (r *natsRig) ledger(t *testing.T, consumer, contract string) string {
	t.Helper()
	var out []string
	for _, q := range []string{`
SELECT contract_id, orders_placed, orders_completed, orders_rejected, subscriptions_started, subscriptions_ended,
       invoices, revenue_excl_vat::text, last_position
FROM billing_contracts WHERE consumer = $1 AND ($2 = '' OR contract_id = $2) ORDER BY 1`, `
SELECT contract_id, period, invoices, revenue_excl_vat::text, 0, 0, 0, '', 0
FROM billing_revenue WHERE consumer = $1 AND ($2 = '' OR contract_id = $2) ORDER BY 1, 2`} {
		rows, err := r.pool.Query(context.Background(), q, consumer, contract)
		if err != nil {
			t.Fatal(err)
		}
		lines, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (string, error) {
			v, err := row.Values()
			return fmt.Sprintf("%v", v), err
		})
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, lines...)
	}
	return strings.Join(out, "\n")
}

// checkLedgers: each NATS consumer's ledger equals the HTTP-feed
// consumer's (restricted to its contract when it filters one), which
// equals a recount of the events; last_position is in the ledgers, so
// each contract's last event is the same too.
func (r *natsRig) checkLedgers(t *testing.T, consumers map[string]string) {
	t.Helper()
	want, got := totals(t, r.env.Pool, recountSQL, followedTypes()), totals(t, r.pool, heldSQL("http"))
	if len(want) != len(r.contracts) || fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("the HTTP-feed consumer counted\n%v\nthe events say\n%v", got, want)
	}
	for name, contract := range consumers {
		want, got := r.ledger(t, "http", contract), r.ledger(t, name, contract)
		if want == "" || got != want {
			t.Errorf("NATS consumer %s holds\n%s\nthe HTTP-feed consumer holds\n%s", name, got, want)
		}
	}
}

// checkStream: the stream holds every event once, in position order.
func (r *natsRig) checkStream(t *testing.T) {
	t.Helper()
	rows, err := r.env.Pool.Query(context.Background(), `SELECT event_id::text FROM events ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	want, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	got := testnats.ReadStream(t, r.nats.URL, natsfwd.Stream)
	t.Logf("the stream holds %d events", len(want))
	if len(got) != len(want) {
		t.Fatalf("the stream holds %d messages, the store %d events", len(got), len(want))
	}
	for i, m := range got {
		if m.ID != want[i] {
			t.Fatalf("stream message %d is event %s, the %dth event by position is %s", i+1, m.ID, i+1, want[i])
		}
	}
}

// checkSummaries: the last line each contract got from the NATS consumers
// is its final total in the ledger.
func (r *natsRig) checkSummaries(t *testing.T, name string, cs ...*consumer) {
	t.Helper()
	last := map[string]string{}
	line := regexp.MustCompile(`^(OCB\d{7})  invoices: `)
	for _, c := range cs {
		for _, l := range strings.Split(strings.TrimSpace(c.stdout.String()), "\n") {
			if m := line.FindStringSubmatch(l); m != nil {
				last[m[1]] = l
			} else if l != "" {
				t.Fatalf("summary line %q", l)
			}
		}
	}
	l := &ledger{pool: r.pool, consumer: name}
	ids := map[string]bool{}
	for _, c := range r.contracts {
		ids[c.ID] = true
	}
	err := pgx.BeginFunc(context.Background(), r.pool, func(tx pgx.Tx) error {
		sums, err := l.summaries(context.Background(), tx, ids)
		for _, s := range sums {
			if last[s.Contract] != s.String() {
				t.Errorf("last summary of %s: %q, want %q", s.Contract, last[s.Contract], s)
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNATSExactlyOnceAcrossKills: while history is made, the forwarding
// selfcare serve is killed with SIGKILL and restarted, then the nats-server
// (file storage), then the consumer. The stream holds every event once in
// order, and the consumer's ledger equals the HTTP-feed consumer's.
func TestNATSExactlyOnceAcrossKills(t *testing.T) {
	t.Parallel()
	r := newNATSRig(t)
	fwd := r.startServe(t)
	first := r.startNATSConsumer(t, "billing")
	stop, wait := r.produce(t)

	waitFor(t, "the forwarder to forward some events", 20*time.Second, func() bool { return r.forwarded(t) > 0 })
	r.midStream(t, "forwarder kill")
	fwd.kill9(t)
	killedAt := r.forwarded(t)
	r.startServe(t)
	waitFor(t, "the restarted forwarder to move on", 20*time.Second, func() bool { return r.forwarded(t) > killedAt })

	waitFor(t, "the consumer to record some events", 20*time.Second, func() bool { return checkpoint(t, r.pool) > 0 })
	r.midStream(t, "nats-server kill")
	r.nats.Kill9(t)
	time.Sleep(300 * time.Millisecond) // history goes on without NATS
	r.nats.Restart(t)
	natsBack := max(r.forwarded(t), checkpoint(t, r.pool))
	waitFor(t, "the forwarder to forward after NATS restarted", 20*time.Second, func() bool { return r.forwarded(t) > natsBack })
	consumed := checkpoint(t, r.pool)
	waitFor(t, "the consumer to move on after NATS restarted", 20*time.Second, func() bool { return checkpoint(t, r.pool) > consumed })

	r.midStream(t, "consumer kill")
	first.kill9(t)
	consumed = checkpoint(t, r.pool)
	second := r.startNATSConsumer(t, "billing")
	waitFor(t, "the restarted consumer to move on", 20*time.Second, func() bool { return checkpoint(t, r.pool) > consumed })

	r.midStream(t, "restarted consumer")
	r.settle(t, stop, wait, map[string]string{"billing": ""})
	r.checkStream(t)
	r.checkLedgers(t, map[string]string{"billing": ""})
	r.checkSummaries(t, "billing", first, second)
}

// TestNATSForwarderTakeover: of two selfcare serve processes one forwards;
// killed with SIGKILL, the other takes over within seconds. A consumer of
// every event and one of a single contract's subject both end with the
// HTTP-feed consumer's ledger.
func TestNATSForwarderTakeover(t *testing.T) {
	t.Parallel()
	r := newNATSRig(t)
	a, b := r.startServe(t), r.startServe(t)
	one := r.contracts[1].ID
	all := r.startNATSConsumer(t, "billing")
	filtered := r.startNATSConsumer(t, "one", "-subject", natsfwd.SubjectPrefix+"."+one+".>")
	stop, wait := r.produce(t)

	waitFor(t, "a forwarder to forward some events", 20*time.Second, func() bool { return r.forwarded(t) > 0 })
	leader, other := a, b
	if !a.forwarding() {
		leader, other = b, a
	}
	if !leader.forwarding() || other.forwarding() {
		t.Fatalf("forwarding: %s %v, %s %v: want exactly one", a.addr, a.forwarding(), b.addr, b.forwarding())
	}
	r.midStream(t, "forwarder kill")
	leader.kill9(t)
	killedAt, killed := r.forwarded(t), time.Now()
	waitFor(t, "the other process to take over", 10*time.Second, other.forwarding)
	waitFor(t, "the new forwarder to move on", 10*time.Second, func() bool { return r.forwarded(t) > killedAt })
	t.Logf("took over and forwarded in %v", time.Since(killed).Round(time.Millisecond))

	restarted := r.startServe(t)
	time.Sleep(500 * time.Millisecond)
	if restarted.forwarding() || !other.forwarding() {
		t.Fatal("the restarted process took the forwarding from the running one")
	}

	r.midStream(t, "restarted forwarder")
	consumers := map[string]string{"billing": "", "one": one}
	r.settle(t, stop, wait, consumers)
	r.checkStream(t)
	r.checkLedgers(t, consumers)
	r.checkSummaries(t, "billing", all)
	r.checkSummaries(t, "one", filtered)
}
