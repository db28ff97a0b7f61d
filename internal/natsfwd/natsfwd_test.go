package natsfwd_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/eventstore"
	"selfcare/handlers"
	"selfcare/internal/clock"
	"selfcare/internal/config"
	"selfcare/internal/natsfwd"
	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
	"selfcare/internal/testnats"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

func testLogger() *slog.Logger {
	if os.Getenv("SELFCARE_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return slog.New(slog.DiscardHandler)
}

// checkStream checks that the stream holds every event of the store once,
// in position order, as the feed shows it, with its subject and headers.
func checkStream(t *testing.T, store *eventstore.Store, url string) int {
	t.Helper()
	// The read is gap-safe: a transaction still in flight elsewhere (a
	// listener's, a busy machine's) may hold the newest events back for a
	// moment; they are all committed, so read until none is held back.
	var want []eventstore.Record
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		p, err := store.ReadPage(context.Background(), store.Pool(), 0, eventstore.ReadOptions{Limit: 100000})
		if err != nil {
			t.Fatal(err)
		}
		if want = p.Records; !p.HeldBack || time.Now().After(deadline) {
			break
		}
	}
	// The forwarder's checkpoint moves after JetStream acknowledged; read
	// until the stream shows as many messages (a busy machine lags).
	got := testnats.ReadStream(t, url, natsfwd.Stream)
	for deadline := time.Now().Add(10 * time.Second); len(got) < len(want) && time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		got = testnats.ReadStream(t, url, natsfwd.Stream)
	}
	if len(got) != len(want) {
		t.Fatalf("the stream holds %d messages, the store %d events", len(got), len(want))
	}
	for i, rec := range want {
		m := got[i]
		payload, err := handlers.FeedEvent(rec)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case m.ID != rec.EventID.String():
			t.Fatalf("message %d: id %s, want the event id %s (position %d)", i, m.ID, rec.EventID, rec.Position)
		case m.Subject != natsfwd.Subject(rec):
			t.Fatalf("message %d: subject %s, want %s", i, m.Subject, natsfwd.Subject(rec))
		case !bytes.Equal(m.Data, payload):
			t.Fatalf("message %d: payload\n%s\nthe feed shows\n%s", i, m.Data, payload)
		case m.Header.Get(natsfwd.HeaderPosition) != strconv.FormatInt(rec.Position, 10),
			m.Header.Get(natsfwd.HeaderStream) != rec.StreamID,
			m.Header.Get(natsfwd.HeaderVersion) != strconv.FormatInt(rec.Version, 10),
			m.Header.Get(natsfwd.HeaderType) != rec.Type:
			t.Fatalf("message %d: headers %v for event %d %s v%d %s", i, m.Header, rec.Position, rec.StreamID, rec.Version, rec.Type)
		}
	}
	return len(want)
}

func appendEvents(t *testing.T, store *eventstore.Store, stream, contract string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		_, err := store.Append(context.Background(), stream, eventstore.Any, eventstore.Event{
			ID: uuid.New(), Type: "NoteTaken", SchemaVersion: 1,
			Data:     json.RawMessage(fmt.Sprintf(`{"n":%d,"html":"<b>&</b>"}`, i)),
			Metadata: eventstore.Metadata{Contract: contract, Actor: "test"},
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func waitForPosition(t *testing.T, f *natsfwd.Forwarder, store *eventstore.Store) {
	t.Helper()
	head, err := store.Head(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		s, err := f.Status(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Position >= head {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the forwarder is at %d, the head at %d: %+v", s.Position, head, s)
		}
	}
}

// TestForwarderPublishesEachEventOnceInOrder: every event reaches the
// stream once, in order, as the feed shows it; a forwarder that starts
// over from position 0 (a lost checkpoint, a crash before it moved)
// republishes and JetStream drops the duplicates by event id; a second
// forwarder on the same database waits while the first holds the lock,
// and takes over when it stops.
func TestForwarderPublishesEachEventOnceInOrder(t *testing.T) {
	ns := testnats.Start(t)
	pool := testdb.New(t)
	store := eventstore.New(pool, clock.Real{})
	listenCtx, stopListen := context.WithCancel(context.Background())
	defer stopListen()
	go store.Listen(listenCtx, testLogger())

	appendEvents(t, store, "contract-OCB0000001", "OCB0000001", 30)
	appendEvents(t, store, "user-someone", "", 5)
	appendEvents(t, store, "contract-a.b", "a.b", 1) // not a subject token: "-"

	run := func(f *natsfwd.Forwarder) (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); f.Run(ctx) }()
		return func() { cancel(); wg.Wait() }
	}
	opts := natsfwd.Options{Store: store, URL: ns.URL, Encode: handlers.FeedEvent, Logger: testLogger(), Batch: 7, Retry: 100 * time.Millisecond}
	first := natsfwd.New(opts)
	stopFirst := run(first)
	waitForPosition(t, first, store)
	appendEvents(t, store, "contract-OCB0000002", "OCB0000002", 12) // woken by the change signal
	waitForPosition(t, first, store)
	if n := checkStream(t, store, ns.URL); n != 48 {
		t.Fatalf("%d events", n)
	}
	if s, _ := first.Status(context.Background()); !s.Forwarding || s.LagSeconds != 0 {
		t.Fatalf("status of the forwarding process: %+v", s)
	}

	second := natsfwd.New(opts)
	stopSecond := run(second)
	defer stopSecond()
	time.Sleep(300 * time.Millisecond)
	if s, _ := second.Status(context.Background()); s.Forwarding {
		t.Fatal("two forwarders at once")
	}
	// As if the checkpoint had not moved: the next forwarder starts over.
	if _, err := pool.Exec(context.Background(), `UPDATE nats_forwarder SET position = 0`); err != nil {
		t.Fatal(err)
	}
	stopFirst() // frees the lock
	appendEvents(t, store, "contract-OCB0000001", "OCB0000001", 3)
	waitForPosition(t, second, store)
	if s, _ := second.Status(context.Background()); !s.Forwarding {
		t.Fatalf("the second forwarder did not take over: %+v", s)
	}
	if n := checkStream(t, store, ns.URL); n != 51 {
		t.Fatalf("%d events", n)
	}
}

// TestServerShowsTheForwarder: with SELFCARE_NATS_URL the server forwards
// what its commands append, and /readyz and /metrics show where it is.
func TestServerShowsTheForwarder(t *testing.T) {
	ns := testnats.Start(t)
	env := testkit.New(t, testkit.WithConfig(func(c *config.Config) { c.NATSURL = ns.URL }))
	env.NewContract("SL_Prod")
	waitForPosition(t, env.Server.Forwarder, env.Server.Store)
	checkStream(t, env.Server.Store, ns.URL)

	var ready struct {
		NATSForwarder *natsfwd.Status `json:"nats_forwarder"`
	}
	env.Get("/readyz", "").JSON(t, &ready)
	head, _ := env.Server.Store.Head(context.Background())
	if f := ready.NATSForwarder; f == nil || !f.Forwarding || f.Position < head || f.Head != head || f.LagSeconds != 0 {
		t.Fatalf("/readyz: %+v, head %d", ready.NATSForwarder, head)
	}
	metrics := string(env.Get("/metrics", "").Body)
	m := regexp.MustCompile(`(?m)^selfcare_nats_forwarder_position (\S+)$`).FindStringSubmatch(metrics)
	if m == nil {
		t.Fatalf("/metrics lacks the forwarder's position:\n%s", metrics)
	}
	if pos, err := strconv.ParseFloat(m[1], 64); err != nil || int64(pos) < head {
		t.Fatalf("/metrics: forwarder position %s, head %d", m[1], head)
	}
	for _, want := range []string{
		"selfcare_nats_forwarder_lag_seconds 0",
		"selfcare_nats_forwarder_active 1",
		"selfcare_nats_forwarder_published_total",
	} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("/metrics lacks %q", want)
		}
	}
}

// TestServerWithoutNATS: without SELFCARE_NATS_URL nothing changes.
func TestServerWithoutNATS(t *testing.T) {
	env := testkit.New(t)
	if env.Server.Forwarder != nil {
		t.Fatal("a forwarder without SELFCARE_NATS_URL")
	}
	body := env.Get("/readyz", "").Body
	if bytes.Contains(body, []byte("nats_forwarder")) || bytes.Contains(env.Get("/metrics", "").Body, []byte("selfcare_nats")) {
		t.Fatalf("NATS shown without SELFCARE_NATS_URL: %s", body)
	}
}
