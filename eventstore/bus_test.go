package eventstore_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"selfcare/eventstore"
)

// subscribe subscribes a consumer group to topic; the subscriber is closed
// when the test ends (or earlier by the caller).
func subscribe(t *testing.T, s *eventstore.Store, group, topic string) (<-chan *message.Message, func()) {
	t.Helper()
	logger := watermill.NewSlogLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	sub, err := s.NewSubscriber(group, logger)
	if err != nil {
		t.Fatal(err)
	}
	// Not t.Context(): it ends before the cleanup that closes the subscriber.
	msgs, err := sub.Subscribe(context.Background(), topic)
	if err != nil {
		t.Fatal(err)
	}
	closeSub := sync.OnceFunc(func() {
		if err := sub.Close(); err != nil {
			t.Errorf("close subscriber: %v", err)
		}
	})
	t.Cleanup(closeSub)
	return msgs, closeSub
}

// appendSpread appends n events over a few streams, in transactions of
// one to three events, and returns their ids in position order.
func appendSpread(t *testing.T, s *eventstore.Store, n int, typ func(i int) string) []uuid.UUID {
	t.Helper()
	ctx := t.Context()
	var ids []uuid.UUID
	for i := 0; i < n; {
		k := min(1+i%3, n-i)
		events := make([]eventstore.Event, k)
		for j := range events {
			events[j] = newEvent(typ(i+j), i+j)
			events[j].Metadata = eventstore.Metadata{Actor: "tester", CorrelationID: fmt.Sprint("c", i+j)}
			ids = append(ids, events[j].ID)
		}
		if _, err := s.Append(ctx, fmt.Sprint("stream-", i%7), eventstore.Any, events...); err != nil {
			t.Fatal(err)
		}
		i += k
	}
	return ids
}

// consumer takes messages off a subscription, checks their order and
// records each in the consumed table through the message's transaction.
type consumer struct {
	t     *testing.T
	group string
	msgs  <-chan *message.Message
	last  int64
	got   []uuid.UUID
	// handlerCtx, when set, is the context the handler takes the bus
	// transaction with, made from the message's.
	handlerCtx func(context.Context) context.Context
}

// next returns the next message, its record, and the bus transaction in
// which the record has been written to the consumed table.
func (c *consumer) next(ctx context.Context) (*message.Message, eventstore.Record) {
	c.t.Helper()
	select {
	case msg, ok := <-c.msgs:
		if !ok {
			c.t.Fatalf("group %s: subscription closed", c.group)
		}
		rec, err := eventstore.RecordFromMessage(msg)
		if err != nil {
			c.t.Fatalf("group %s: %v", c.group, err)
		}
		if rec.Position <= c.last {
			c.t.Fatalf("group %s: position %d after %d: not in position order", c.group, rec.Position, c.last)
		}
		c.last = rec.Position
		hctx := msg.Context()
		if c.handlerCtx != nil {
			hctx = c.handlerCtx(hctx)
		}
		tx, ok := eventstore.BusTx(hctx)
		if !ok {
			c.t.Fatalf("group %s: no bus transaction in the message's context", c.group)
		}
		if _, err := tx.Exec(msg.Context(), `INSERT INTO consumed (consumer_group, event_id) VALUES ($1, $2)`, c.group, rec.EventID); err != nil {
			c.t.Fatalf("group %s: write in the bus transaction: %v", c.group, err)
		}
		return msg, rec
	case <-ctx.Done():
		c.t.Fatalf("group %s: waited too long for message %d: %v", c.group, len(c.got)+1, ctx.Err())
		return nil, eventstore.Record{}
	}
}

// take consumes and acks n messages.
func (c *consumer) take(ctx context.Context, n int) {
	c.t.Helper()
	for range n {
		msg, rec := c.next(ctx)
		c.got = append(c.got, rec.EventID)
		msg.Ack()
	}
}

func createConsumedTable(t *testing.T, s *eventstore.Store) {
	t.Helper()
	if _, err := s.Pool().Exec(t.Context(), `CREATE TABLE consumed (consumer_group text NOT NULL, event_id uuid NOT NULL)`); err != nil {
		t.Fatal(err)
	}
}

// consumedBy returns the events the group's transactions recorded, once
// there are want of them (the last batch commits after its last ack).
func consumedBy(ctx context.Context, t *testing.T, s *eventstore.Store, group string, want int) map[uuid.UUID]int {
	t.Helper()
	for {
		rows, err := s.Pool().Query(ctx, `SELECT event_id FROM consumed WHERE consumer_group = $1`, group)
		if err != nil {
			t.Fatal(err)
		}
		counts := map[uuid.UUID]int{}
		n := 0
		for rows.Next() {
			var id uuid.UUID
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			counts[id]++
			n++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n >= want || ctx.Err() != nil {
			return counts
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func assertExactlyOnce(t *testing.T, group string, counts map[uuid.UUID]int, want []uuid.UUID) {
	t.Helper()
	for _, id := range want {
		if counts[id] != 1 {
			t.Fatalf("group %s: event %s recorded %d times, want once", group, id, counts[id])
		}
	}
	if len(counts) != len(want) {
		t.Fatalf("group %s: %d events recorded, want %d", group, len(counts), len(want))
	}
}

// Two consumer groups each receive every event exactly once, in position
// order, including events appended while they consume; what a handler
// writes in the message's transaction commits with the group's offset.
func TestBusDeliversEveryEventToEachGroup(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	createConsumedTable(t, s)
	before := appendSpread(t, s, 150, func(int) string { return "Tick" })

	type result struct {
		group string
		got   []uuid.UUID
	}
	results := make(chan result, 2)
	for _, group := range []string{"billing", "mailer"} {
		msgs, _ := subscribe(t, s, group, eventstore.TopicAll)
		go func() {
			c := &consumer{t: t, group: group, msgs: msgs}
			c.take(ctx, 300)
			results <- result{group, c.got}
		}()
	}
	after := appendSpread(t, s, 150, func(int) string { return "Tock" }) // while they consume
	want := append(before, after...)
	for range 2 {
		r := <-results
		if !slices.Equal(r.got, want) {
			t.Fatalf("group %s received %d events, not the %d appended in position order", r.group, len(r.got), len(want))
		}
		assertExactlyOnce(t, r.group, consumedBy(ctx, t, s, r.group, len(want)), want)
	}

	// An event appended later wakes an idle subscriber through the change
	// signal, well before its 1 s poll, or as soon as it is no longer held
	// back behind older transactions (other tests' among them).
	// The median of a few: a loaded machine may hold one up; with a broken
	// signal, they would take 500 ms on average.
	msgs, _ := subscribe(t, s, "late", eventstore.TopicAll+".Late")
	c := &consumer{t: t, group: "late", msgs: msgs}
	var latencies []time.Duration
	for i := range 5 {
		time.Sleep(100 * time.Millisecond) // let it go idle
		late := appendSpread(t, s, 1, func(int) string { return "Late" })
		visible := visibleAt(ctx, s)
		c.take(ctx, 1)
		delivered := time.Now()
		if c.got[i] != late[0] {
			t.Fatalf("topic %s.Late delivered %s, want %s", eventstore.TopicAll, c.got[i], late[0])
		}
		latencies = append(latencies, max(delivered.Sub(<-visible), 0))
	}
	slices.Sort(latencies)
	if m := latencies[len(latencies)/2]; m > 300*time.Millisecond {
		t.Errorf("an idle subscriber took %s (median) to deliver a new event once visible", m)
	}
}

// visibleAt returns when the last event appended becomes visible to
// gap-safe readers.
func visibleAt(ctx context.Context, s *eventstore.Store) <-chan time.Time {
	at := make(chan time.Time, 1)
	go func() {
		var last int64
		if err := s.Pool().QueryRow(ctx, `SELECT max(position) FROM events`).Scan(&last); err != nil {
			at <- time.Now()
			return
		}
		for {
			if h, err := s.Head(ctx); err != nil || h >= last {
				at <- time.Now()
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return at
}

// A handler's writes in the bus transaction become visible with the ack
// that commits the group's offset, not before.
func TestBusTxCommitsWithTheAck(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	createConsumedTable(t, s)
	msgs, _ := subscribe(t, s, "g", eventstore.TopicAll)
	c := &consumer{t: t, group: "g", msgs: msgs}
	ids := appendSpread(t, s, 1, func(int) string { return "Tick" })

	msg, _ := c.next(ctx)
	time.Sleep(50 * time.Millisecond)
	if n := len(consumedBy(ctx, t, s, "g", 0)); n != 0 {
		t.Fatalf("a write in the bus transaction is visible before the ack (%d rows)", n)
	}
	msg.Ack()
	assertExactlyOnce(t, "g", consumedBy(ctx, t, s, "g", 1), ids)
}

// endsOnceWatched is a context that ends the moment a query starts
// watching it (its second Done call): a handler's context cancelled by a
// shutdown while the handler is inside a query.
type endsOnceWatched struct {
	context.Context
	calls atomic.Int32
	done  chan struct{}
	once  sync.Once
}

func (c *endsOnceWatched) Done() <-chan struct{} {
	if c.calls.Add(1) > 1 {
		c.once.Do(func() { close(c.done) })
	}
	return c.done
}

func (c *endsOnceWatched) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}

// A handler whose context ends while BusTx takes the message's savepoint
// (a shutdown) still gets a usable transaction: cancelling that query
// would close the connection under the subscriber's transaction, which
// could then neither ack nor commit.
func TestBusTxSurvivesTheHandlersContextEndingMidway(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	createConsumedTable(t, s)
	msgs, _ := subscribe(t, s, "g", eventstore.TopicAll)
	c := &consumer{t: t, group: "g", msgs: msgs, handlerCtx: func(ctx context.Context) context.Context {
		return &endsOnceWatched{Context: ctx, done: make(chan struct{})}
	}}
	ids := appendSpread(t, s, 2, func(int) string { return "Tick" })

	c.take(ctx, 2)
	assertExactlyOnce(t, "g", consumedBy(ctx, t, s, "g", 2), ids)
}

// A consumer that stops mid-stream, with a message handled (its writes
// made) but not acked, resumes with that message when it subscribes again
// with the same group: no event is lost, none is recorded twice.
func TestBusResumesAfterAStopWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	createConsumedTable(t, s)
	want := appendSpread(t, s, 250, func(int) string { return "Tick" })

	done := 0
	// Stop inside a batch, then holding the first message of a batch
	// (the first delivered after the restart), then inside one again.
	for _, stopAfter := range []int{130, 130, 200} {
		msgs, closeSub := subscribe(t, s, "crashy", eventstore.TopicAll)
		c := &consumer{t: t, group: "crashy", msgs: msgs}
		c.take(ctx, stopAfter-done)
		_, inFlight := c.next(ctx) // handled, never acked
		closeSub()
		if inFlight.EventID != want[stopAfter] {
			t.Fatalf("in flight: %s, want event %d (%s)", inFlight.EventID, stopAfter, want[stopAfter])
		}
		if !slices.Equal(c.got, want[done:stopAfter]) {
			t.Fatalf("after restart: received %d events, not the %d that follow the last acked one", len(c.got), stopAfter-done)
		}
		done = stopAfter
	}
	msgs, _ := subscribe(t, s, "crashy", eventstore.TopicAll)
	c := &consumer{t: t, group: "crashy", msgs: msgs}
	c.take(ctx, 50)
	if !slices.Equal(c.got, want[200:]) {
		t.Fatalf("last restart: did not resume with event 200")
	}
	assertExactlyOnce(t, "crashy", consumedBy(ctx, t, s, "crashy", len(want)), want)
}

// RecordFromMessage gives back the stored record.
func TestRecordFromMessageRoundTrips(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	e := eventstore.Event{
		ID: uuid.New(), Type: "RolesChanged", SchemaVersion: 2,
		Data: json.RawMessage(`{"login": "jdoe", "roles": ["admin"]}`),
		Metadata: eventstore.Metadata{
			Actor: "jdoe", ActorKind: "user", Contract: "C-1", CorrelationID: "corr",
			CausationID: "cause", RequestID: "req", SourceIP: "192.0.2.1",
		},
	}
	if _, err := s.Append(ctx, "membership-C-1", eventstore.NoStream, newEvent("Before", 0), e); err != nil {
		t.Fatal(err)
	}
	stored, err := s.Load(ctx, "membership-C-1", 1)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := subscribe(t, s, "g", eventstore.TopicAll+".RolesChanged")
	select {
	case msg := <-msgs:
		got, err := eventstore.RecordFromMessage(msg)
		if err != nil {
			t.Fatal(err)
		}
		msg.Ack()
		want := stored[0]
		if got.Position != want.Position || got.EventID != want.EventID || got.StreamID != want.StreamID ||
			got.Version != want.Version || got.Type != want.Type || got.SchemaVersion != want.SchemaVersion ||
			got.Metadata != want.Metadata || !got.RecordedAt.Equal(want.RecordedAt) || string(got.Data) != string(want.Data) {
			t.Fatalf("RecordFromMessage:\n got %+v\nwant %+v", got, want)
		}
	case <-ctx.Done():
		t.Fatal("no message")
	}
}

// Members of one consumer group share its events: together they receive
// each event exactly once.
func TestBusGroupMembersShareTheEvents(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	createConsumedTable(t, s)
	want := appendSpread(t, s, 300, func(int) string { return "Tick" })
	var mu sync.Mutex
	got := 0
	done := make(chan struct{})
	for range 2 {
		msgs, _ := subscribe(t, s, "shared", eventstore.TopicAll)
		go func() {
			for {
				select {
				case msg := <-msgs:
					tx, ok := eventstore.BusTx(msg.Context())
					if !ok {
						t.Error("no bus transaction")
						return
					}
					rec, err := eventstore.RecordFromMessage(msg)
					if err == nil {
						_, err = tx.Exec(msg.Context(), `INSERT INTO consumed VALUES ('shared', $1)`, rec.EventID)
					}
					if err != nil {
						t.Error(err)
						return
					}
					msg.Ack()
					mu.Lock()
					got++
					if got == len(want) {
						close(done)
					}
					mu.Unlock()
				case <-done:
					return
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	select {
	case <-done:
	case <-ctx.Done():
		t.Fatalf("the members received %d of %d events", got, len(want))
	}
	assertExactlyOnce(t, "shared", consumedBy(ctx, t, s, "shared", len(want)), want)
}

// A consumer that stops taking messages (stuck, or gone without closing
// its subscriber) leaves its batch's transaction open until the ack
// deadline: it must not hold back what other readers see meanwhile.
func TestStuckBusConsumerDoesNotHoldBackReaders(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	msgs, _ := subscribe(t, s, "stuck", eventstore.TopicAll)
	appendSpread(t, s, 3, func(int) string { return "Tick" })
	select {
	case <-msgs: // taken, never acked; the next ones wait in the subscriber
	case <-ctx.Done():
		t.Fatal("no message")
	}
	time.Sleep(100 * time.Millisecond)
	res, err := s.Append(ctx, "after", eventstore.NoStream, newEvent("Tick", 1))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for {
		h, err := s.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h >= res.LastPosition() {
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatal("a new event stays invisible to gap-safe readers while a bus consumer is stuck")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// An idle subscriber woken by a commit waits for the commits right behind
// it and reads them all in one transaction, not one each.
func TestAnIdleSubscriberReadsABurstOfCommitsInOneTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	s := newStore(t)
	logger := watermill.NewSlogLogger(slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelError})))
	sub, err := s.NewSubscriber("burst", logger)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	// Long enough for the burst below on a loaded machine; the default is
	// a few milliseconds.
	sub.SetSettle(2 * time.Second)
	msgs, err := sub.Subscribe(context.Background(), eventstore.TopicAll)
	if err != nil {
		t.Fatal(err)
	}
	receive := func() (*message.Message, string) {
		t.Helper()
		select {
		case msg := <-msgs:
			tx, ok := eventstore.BusTx(msg.Context())
			if !ok {
				t.Fatal("a message outside a bus transaction")
			}
			return msg, fmt.Sprintf("%p", tx)
		case <-time.After(30 * time.Second):
			t.Fatal("no message")
			return nil, ""
		}
	}
	if _, err := s.Append(ctx, "first", eventstore.NoStream, newEvent("First", 0)); err != nil {
		t.Fatal(err)
	}
	msg, _ := receive()
	msg.Ack()
	time.Sleep(100 * time.Millisecond) // idle, waiting for a commit

	const burst = 5
	for i := range burst {
		if _, err := s.Append(ctx, fmt.Sprint("burst-", i), eventstore.NoStream, newEvent("Burst", i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(20 * time.Millisecond) // commits apart, as commands come
	}
	txs := map[string]int{}
	for range burst {
		msg, tx := receive()
		txs[tx]++
		msg.Ack()
	}
	if len(txs) != 1 {
		t.Fatalf("%d commits read in %d transactions (%v), want one", burst, len(txs), txs)
	}
}
