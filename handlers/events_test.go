package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/membership"
	"selfcare/internal/testkit"
)

// feedEvent and feedPage are the feed's JSON, as a client reads it.
type feedEvent struct {
	Position   int64           `json:"position"`
	EventID    string          `json:"event_id"`
	Type       string          `json:"type"`
	Stream     string          `json:"stream"`
	Version    int64           `json:"version"`
	OccurredAt time.Time       `json:"occurred_at"`
	Data       json.RawMessage `json:"data"`
	Metadata   map[string]any  `json:"metadata"`
}

type feedPage struct {
	Events    []feedEvent `json:"events"`
	NextAfter *int64      `json:"next_after"`
}

// readFeed calls the feed; safe from any goroutine (it never fails the test).
func readFeed(ctx context.Context, base, query string) (feedPage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/v1/events?"+query, nil)
	if err != nil {
		return feedPage{}, err
	}
	req.Header.Set("Authorization", "Bearer "+testkit.AuditorToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return feedPage{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return feedPage{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return feedPage{}, fmt.Errorf("GET /api/v1/events?%s: %d %s", query, resp.StatusCode, body)
	}
	var p feedPage
	if err := json.Unmarshal(body, &p); err != nil {
		return feedPage{}, err
	}
	if p.NextAfter == nil || p.Events == nil {
		return feedPage{}, fmt.Errorf("feed page without events or next_after: %s", body)
	}
	return p, nil
}

// lastPosition is the position of the last committed event.
func lastPosition(t *testing.T, env *testkit.Env) int64 {
	t.Helper()
	var pos int64
	if err := env.Pool.QueryRow(context.Background(), `SELECT coalesce(max(position), 0) FROM events`).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	return pos
}

func TestEventFeedRefusesBadParametersAndOtherCallers(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Feed")
	for query, field := range map[string]string{
		"after=-1": "after", "after=abc": "after", "after=1.5": "after",
		"limit=0": "limit", "limit=1001": "limit", "limit=x": "limit",
		"wait=61": "wait", "wait=-1": "wait", "wait=soon": "wait", "wait=NaN": "wait",
		"types=OrderPlaced,NoSuchEvent": "types",
	} {
		r := testkit.Expect(t, env.Get("/api/v1/events?"+query, testkit.AuditorToken), http.StatusBadRequest)
		if codes := r.FieldCodes(t); codes[field] == "" {
			t.Errorf("%s: no error on %s: %s", query, field, r.Body)
		}
	}
	testkit.Expect(t, env.Get("/api/v1/events", ""), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/api/v1/events", c.ReferentToken), http.StatusForbidden)
	for _, token := range []string{testkit.AuditorToken, testkit.AdminToken} {
		var p feedPage
		// Short transactions of the read models may hold the newest
		// events back for a moment (gap safety): look again until all show.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			testkit.Expect(t, env.Get("/api/v1/events?limit=1000&wait=0", token), http.StatusOK).JSON(t, &p)
			if len(p.Events) == env.EventCount() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the feed shows %d events, the store holds %d", len(p.Events), env.EventCount())
			}
		}
		first := p.Events[0]
		for _, e := range p.Events {
			if e.Type == "ContractCreated" {
				first = e
				break
			}
		}
		if first.Type != "ContractCreated" || first.Stream != "contract-"+c.ID || first.Version != 1 ||
			first.EventID == "" || first.OccurredAt.IsZero() || first.Metadata["actor"] != "bootstrap-admin" ||
			first.Metadata["contract"] != c.ID || first.Metadata["source_ip"] == nil {
			t.Fatalf("first event: %+v", first)
		}
	}
	// 100 events a page by default.
	var many []domain.Event
	for i := 0; i < 110; i++ {
		many = append(many, membership.ExternalAccountsSet{ContractID: c.ID, Login: c.ReferentLogin, Incidents: i%2 == 0, At: time.Now()})
	}
	if _, err := env.History().Append(testkit.OperatorActor(), membership.Stream(c.ID, c.ReferentLogin), c.ID, many...); err != nil {
		t.Fatal(err)
	}
	var full feedPage
	testkit.Expect(t, env.Get("/api/v1/events", testkit.AuditorToken), http.StatusOK).JSON(t, &full)
	if len(full.Events) != 100 || *full.NextAfter != full.Events[99].Position {
		t.Fatalf("default page: %d events, next_after %d", len(full.Events), *full.NextAfter)
	}

	// A type filter keeps only those types, and the limit holds.
	var p feedPage
	testkit.Expect(t, env.Get("/api/v1/events?types=UserAddedToContract&types=ContractCreated,&limit=1", testkit.AuditorToken), http.StatusOK).JSON(t, &p)
	// A full page ends at its last event (more may follow).
	if len(p.Events) != 1 || p.Events[0].Type != "ContractCreated" || *p.NextAfter != p.Events[0].Position {
		t.Fatalf("limited, filtered page: %+v", p)
	}
	testkit.Expect(t, env.Get("/api/v1/events?types=UserAddedToContract&after="+strconv.FormatInt(*p.NextAfter, 10), testkit.AuditorToken), http.StatusOK).JSON(t, &p)
	if len(p.Events) != 1 || p.Events[0].Type != "UserAddedToContract" {
		t.Fatalf("filtered page: %+v", p)
	}
}

// TestEventFeedDeliversEveryEventExactlyOnceUnderConcurrentWriters follows
// the feed with small pages while several writers commit concurrently: the
// reader must see each event once, in strictly increasing positions, and
// all of them.
func TestEventFeedDeliversEveryEventExactlyOnceUnderConcurrentWriters(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	h := env.History()
	const writers, perWriter = 4, 8
	contracts := make([]testkit.Contract, writers)
	for i := range contracts {
		contracts[i] = env.NewContract(fmt.Sprintf("Writer %d", i))
	}

	type seen struct {
		events []feedEvent
		err    error
	}
	// follow reads the feed in small pages until it has seen the last
	// event, whose position it learns once the writers are done.
	follow := func(ctx context.Context, query string, last <-chan int64, out chan<- seen) {
		var s seen
		after, target := int64(0), int64(-1)
		for target < 0 || after < target {
			select {
			case target = <-last:
			default:
			}
			p, err := readFeed(ctx, env.URL, fmt.Sprintf("%safter=%d&limit=7&wait=0.2", query, after))
			if err != nil {
				s.err = err
				break
			}
			s.events = append(s.events, p.Events...)
			after = *p.NextAfter
		}
		out <- s
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	lastAll, lastPlaced := make(chan int64, 1), make(chan int64, 1)
	all, placed := make(chan seen, 1), make(chan seen, 1)
	go follow(ctx, "", lastAll, all)
	go follow(ctx, "types=OrderPlaced&", lastPlaced, placed)

	var wg sync.WaitGroup
	errs := make(chan error, writers*perWriter)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := contracts[w]
			for i := 0; i < perWriter; i++ {
				// Two writers share each contract's order stream, to race.
				cid := contracts[(w+i%2)%writers].ID
				if _, err := h.PlaceOrder(testkit.UserActor(c.ReferentLogin), cid, "PS104", nil); err != nil {
					errs <- err
				}
				if _, err := h.Append(testkit.OperatorActor(), membership.Stream(c.ID, c.ReferentLogin), c.ID,
					membership.ExternalAccountsSet{ContractID: c.ID, Login: c.ReferentLogin, Incidents: i%2 == 0, At: time.Now()}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	lastAll <- lastPosition(t, env)
	lastPlaced <- lastPosition(t, env)

	check := func(name string, s seen, where string) {
		t.Helper()
		if s.err != nil {
			t.Fatalf("%s reader: %v", name, s.err)
		}
		var want []string
		rows, err := env.Pool.Query(ctx, `SELECT event_id::text FROM events WHERE `+where+` ORDER BY position`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			want = append(want, id)
		}
		if len(s.events) != len(want) {
			t.Fatalf("%s reader saw %d events, the store holds %d", name, len(s.events), len(want))
		}
		for i, e := range s.events {
			if i > 0 && e.Position <= s.events[i-1].Position {
				t.Fatalf("%s reader: position %d after %d", name, e.Position, s.events[i-1].Position)
			}
			if e.EventID != want[i] {
				t.Fatalf("%s reader: event %d is %s, want %s", name, i, e.EventID, want[i])
			}
		}
	}
	check("unfiltered", <-all, "true")
	check("OrderPlaced", <-placed, "event_type = 'OrderPlaced'")
}

func TestEventFeedLongPollWakesOnAppend(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	c := env.NewContract("Poll")
	head := lastPosition(t, env)

	type result struct {
		page feedPage
		at   time.Time
		err  error
	}
	got := make(chan result, 1)
	go func() {
		p, err := readFeed(context.Background(), env.URL, fmt.Sprintf("after=%d&wait=20&types=OrderPlaced", head))
		got <- result{p, time.Now(), err}
	}()
	time.Sleep(300 * time.Millisecond)
	// An event of another type does not end the wait.
	if _, err := env.History().Append(testkit.OperatorActor(), membership.Stream(c.ID, c.ReferentLogin), c.ID,
		membership.ExternalAccountsSet{ContractID: c.ID, Login: c.ReferentLogin, Incidents: true, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		t.Fatalf("the wait ended on an event of another type: %+v %v", r.page, r.err)
	case <-time.After(300 * time.Millisecond):
	}
	appended := time.Now()
	ref, err := env.History().PlaceOrder(testkit.UserActor(c.ReferentLogin), c.ID, "PS104", nil)
	if err != nil {
		t.Fatal(err)
	}
	r := <-got
	if r.err != nil {
		t.Fatal(r.err)
	}
	if d := r.at.Sub(appended); d > time.Second {
		t.Fatalf("the long poll answered %v after the append", d)
	}
	if len(r.page.Events) != 1 || r.page.Events[0].Type != "OrderPlaced" || !json.Valid(r.page.Events[0].Data) ||
		*r.page.NextAfter < r.page.Events[0].Position {
		t.Fatalf("long poll page: %+v", r.page)
	}
	var data struct{ Ref string }
	if err := json.Unmarshal(r.page.Events[0].Data, &data); err != nil || data.Ref != ref {
		t.Fatalf("event data %s, want order %s", r.page.Events[0].Data, ref)
	}
}

func TestEventFeedLongPollEndsAfterWaitWhenNothingComes(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	env.NewContract("Quiet")
	head := lastPosition(t, env)
	start := time.Now()
	p, err := readFeed(context.Background(), env.URL, fmt.Sprintf("after=%d&wait=1", head))
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if elapsed < time.Second || elapsed > 2*time.Second {
		t.Fatalf("wait=1 answered after %v", elapsed)
	}
	if len(p.Events) != 0 || *p.NextAfter < head {
		t.Fatalf("empty long poll: %+v (after %d)", p, head)
	}
}

func TestEventFeedLongPollEndsWithItsClientAndWithTheServer(t *testing.T) {
	t.Parallel()
	t.Run("client leaves", func(t *testing.T) {
		t.Parallel()
		env := testkit.New(t)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := readFeed(ctx, env.URL, "after=999999999999999&wait=60")
			done <- err
		}()
		time.Sleep(300 * time.Millisecond)
		cancel()
		<-done
		// Close waits for the requests in flight: it returns at once only
		// if the handler noticed its client left.
		start := time.Now()
		env.HTTP.Close()
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("the server took %v to close: the long poll outlived its client", d)
		}
	})
	t.Run("server shuts down", func(t *testing.T) {
		t.Parallel()
		env := testkit.New(t)
		got := make(chan error, 1)
		var page feedPage
		go func() {
			var err error
			page, err = readFeed(context.Background(), env.URL, "after=999999999999999&wait=60")
			got <- err
		}()
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		env.Server.Drain()
		if err := <-got; err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > time.Second || len(page.Events) != 0 {
			t.Fatalf("draining answered after %v with %+v", d, page)
		}
	})
}

// A page is written to its client as it is read from the store, in
// pieces: a page far larger than one piece arrives whole, in order, as
// the same JSON as a page written at once.
func TestEventFeedStreamsAPageLargerThanItsBuffer(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	ctx := context.Background()
	c := env.NewContract("Streamed")
	after := lastPosition(t, env)
	const n = 400 // about 150 kB of events
	many := make([]domain.Event, n)
	for i := range many {
		many[i] = membership.ExternalAccountsSet{ContractID: c.ID, Login: c.ReferentLogin, Incidents: i%2 == 0, At: time.Now()}
	}
	res, err := env.History().Append(testkit.OperatorActor(), membership.Stream(c.ID, c.ReferentLogin), c.ID, many...)
	if err != nil {
		t.Fatal(err)
	}
	// Until no older transaction holds them back from gap-safe readers.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := env.Server.Store.WaitVisible(wctx, res); err != nil {
		t.Fatal(err)
	}
	p, err := readFeed(ctx, env.URL, fmt.Sprintf("after=%d&limit=1000&types=ExternalAccountsSet", after))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != n {
		t.Fatalf("%d events in the page, want %d", len(p.Events), n)
	}
	for i, e := range p.Events {
		var data struct{ Incidents bool }
		if err := json.Unmarshal(e.Data, &data); err != nil || data.Incidents != (i%2 == 0) ||
			i > 0 && (e.Version != p.Events[i-1].Version+1 || e.Position <= p.Events[i-1].Position) {
			t.Fatalf("event %d of the page: %+v (data %s, err %v)", i, e, e.Data, err)
		}
	}
	if last := p.Events[n-1].Position; *p.NextAfter < last {
		t.Errorf("next_after = %d, before the page's last event %d", *p.NextAfter, last)
	}
}
