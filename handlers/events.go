package handlers

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-json-experiment/json/jsontext"

	"selfcare/domain"
	"selfcare/domain/registry"
	"selfcare/eventstore"
)

// Bounds of the event feed (API.md "Event feed").
const (
	feedDefaultLimit = 100
	feedMaxLimit     = 1000
	feedMaxWait      = 60 * time.Second
)

// EventFeedAPI serves the global event stream to billing consumers: every
// event after a position, in position order, optionally of some types,
// waiting for new ones if asked. It is gap-safe (eventstore.ReadPage), so
// a reader that always passes the last next_after sees every event exactly
// once.
type EventFeedAPI struct {
	Store    *eventstore.Store
	Registry *registry.Registry
	// Draining is closed when the server starts shutting down: waiting
	// requests answer at once instead of holding the shutdown back.
	Draining <-chan struct{}
}

// Routes registers the feed.
func (f EventFeedAPI) Routes(r *Routes) {
	r.Handle("GET /api/v1/events", f.read)
}

// FeedEvent is an event exactly as the feed shows it. The NATS forwarder
// (internal/natsfwd) publishes these bytes, so a consumer reads the same
// event whichever way it follows the stream.
func FeedEvent(r eventstore.Record) ([]byte, error) { return appendFeedEvent(nil, r) }

// appendFeedEvent appends r as a JSON object with the fields of
// eventstore.Record's JSON encoding, its data and metadata as stored:
// written field by field, not by reflection, and the stored documents not
// parsed again (the feed serves millions of events).
func appendFeedEvent(b []byte, r eventstore.Record) ([]byte, error) {
	meta := []byte(r.RawMetadata)
	if meta == nil { // not read from the store: as decoded
		var err error
		if meta, err = json.Marshal(r.Metadata); err != nil {
			return b, err
		}
	}
	data := []byte(r.Data)
	if len(data) == 0 {
		data = []byte("null")
	}
	b = append(b, `{"position":`...)
	b = strconv.AppendInt(b, r.Position, 10)
	b = append(b, `,"event_id":"`...)
	b = append(b, r.EventID.String()...)
	b = append(b, `","stream":`...)
	b, err := jsontext.AppendQuote(b, r.StreamID)
	if err != nil {
		return b, err
	}
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, r.Version, 10)
	b = append(b, `,"type":`...)
	if b, err = jsontext.AppendQuote(b, r.Type); err != nil {
		return b, err
	}
	b = append(b, `,"schema_version":`...)
	b = strconv.AppendInt(b, int64(r.SchemaVersion), 10)
	b = append(b, `,"data":`...)
	b = append(b, data...)
	b = append(b, `,"metadata":`...)
	b = append(b, meta...)
	b = append(b, `,"occurred_at":"`...)
	b = r.RecordedAt.AppendFormat(b, time.RFC3339Nano)
	return append(b, `"}`...), nil
}

type feedQuery struct {
	after int64
	types []string
	limit int
	wait  time.Duration
}

func (f EventFeedAPI) read(w http.ResponseWriter, r *http.Request) {
	q, err := f.parse(r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	out := &feedWriter{w: w}
	page, err := f.poll(r.Context(), q, out.event)
	if err != nil {
		if out.started {
			// Part of the page is on its way: cut the response short, so
			// that the client sees a broken page, not a shorter one.
			loggerFrom(r.Context()).Warn("event feed page cut short", "err", err)
			panic(http.ErrAbortHandler)
		}
		if r.Context().Err() != nil {
			return // the client went away: nobody to answer
		}
		fail(w, r, err)
		return
	}
	if err := out.finish(page.Next); err != nil {
		slog.Default().Warn("write response", "err", err)
	}
}

// feedWriter writes a page, {"events":[...],"next_after":N}, the events as
// appendFeedEvent writes them, as they are read: the client reads the
// first events while the server still reads the next ones from the store.
type feedWriter struct {
	w       http.ResponseWriter
	buf     []byte
	started bool
}

// feedFlushAt is how many bytes of a page are buffered before they are
// sent on.
const feedFlushAt = 32 << 10

func (o *feedWriter) start() {
	o.started = true
	writeHead(o.w, http.StatusOK, "application/json")
	o.buf = append(make([]byte, 0, feedFlushAt+4<<10), `{"events":[`...)
}

func (o *feedWriter) event(rec eventstore.Record) error {
	if !o.started {
		o.start()
	} else {
		o.buf = append(o.buf, ',')
	}
	var err error
	if o.buf, err = appendFeedEvent(o.buf, rec); err != nil {
		return err
	}
	if len(o.buf) >= feedFlushAt {
		_, err = o.w.Write(o.buf)
		o.buf = o.buf[:0]
	}
	return err
}

func (o *feedWriter) finish(next int64) error {
	if !o.started {
		o.start()
	}
	o.buf = append(o.buf, `],"next_after":`...)
	o.buf = strconv.AppendInt(o.buf, next, 10)
	o.buf = append(o.buf, "}\n"...)
	_, err := o.w.Write(o.buf)
	return err
}

// poll streams a page to emit; when it is empty and the client asked to
// wait, it waits for a commit (the store's change signal, which covers
// other processes too) and reads again, until an event comes, the wait is
// over, the client leaves or the server shuts down.
func (f EventFeedAPI) poll(ctx context.Context, q feedQuery, emit func(eventstore.Record) error) (eventstore.Page, error) {
	// The wait is a network timeout: real time, not the injected clock.
	deadline := time.Now().Add(q.wait)
	heldBackWait := time.Millisecond
	after := q.after
	n := 0
	count := func(rec eventstore.Record) error {
		n++
		return emit(rec)
	}
	for {
		changed := f.Store.Changes().C()
		page, err := f.Store.StreamPage(ctx, f.Store.Pool(), after, eventstore.ReadOptions{Types: q.types, Limit: q.limit, RawMetadata: true}, count)
		if err != nil {
			return page, err
		}
		remaining := time.Until(deadline)
		if n > 0 || remaining <= 0 {
			return page, nil
		}
		// Events of other types may have been skipped: go on from there.
		after = page.Next
		var retry <-chan time.Time
		if page.HeldBack {
			// Committed events wait behind an older transaction, which
			// will not necessarily signal when it ends: look again soon.
			retry = time.After(min(heldBackWait, remaining))
			heldBackWait = min(heldBackWait*2, 50*time.Millisecond)
		} else {
			heldBackWait = time.Millisecond
		}
		timeout := time.NewTimer(remaining)
		select {
		case <-ctx.Done():
			timeout.Stop()
			return page, ctx.Err()
		case <-f.Draining:
			timeout.Stop()
			return page, nil
		case <-changed:
		case <-retry:
		case <-timeout.C:
		}
		timeout.Stop()
	}
}

// parse reads ?after=&types=&limit=&wait=. Every bad parameter is a
// field of the *domain.ValidationError returned.
func (f EventFeedAPI) parse(values url.Values) (feedQuery, error) {
	var v domain.ValidationError
	q := feedQuery{limit: feedDefaultLimit}
	if s := values.Get("after"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			v.Add("after", "invalid", "after is a position: an integer, 0 or more (the next_after of the previous page)")
		}
		q.after = n
	}
	if s := values.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > feedMaxLimit {
			v.Add("limit", "invalid", "limit is an integer from 1 to %d", feedMaxLimit)
		}
		q.limit = n
	}
	if s := values.Get("wait"); s != "" {
		secs, err := strconv.ParseFloat(s, 64)
		if err != nil || !(secs >= 0 && secs <= feedMaxWait.Seconds()) || math.IsNaN(secs) {
			v.Add("wait", "invalid", "wait is a number of seconds from 0 to %d", int(feedMaxWait.Seconds()))
		} else {
			q.wait = time.Duration(secs * float64(time.Second))
		}
	}
	seen := map[string]bool{}
	var unknown []string
	for _, list := range values["types"] {
		for _, t := range strings.Split(list, ",") {
			t = strings.TrimSpace(t)
			switch {
			case t == "" || seen[t]:
			case !f.Registry.Known(t):
				unknown = append(unknown, t)
			default:
				seen[t] = true
				q.types = append(q.types, t)
			}
		}
	}
	if len(unknown) > 0 {
		v.Add("types", "unknown_type", "unknown event type(s) %s; known types: %s",
			strings.Join(unknown, ", "), strings.Join(f.Registry.Names(), ", "))
	}
	return q, v.Err()
}
