package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"github.com/google/uuid"

	"selfcare/eventstore"
	"selfcare/internal/config"
)

// feedEvents is how many events the feed measurement appends and reads.
const feedEvents = 50_000

// feedRounds is how many times each side reads the feedEvents.
const feedRounds = 5

// FeedThroughput measures how many events per second a billing consumer
// reads through the HTTP event feed (GET /api/v1/events, following
// next_after, pages of limit events, JSON over loopback HTTP), beside a
// raw baseline: the same rows read by keyset pages of the same size with
// plain SQL on a pooled connection, without gap safety, HTTP or JSON.
func FeedThroughput(limit int) Measurement {
	name := fmt.Sprintf("feed read, pages of %d", limit)
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		after, err := env.Store.Head(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := appendVisible(ctx, env.Store, "bench-feed-", feedEvents); err != nil {
			return nil, err
		}

		const token = "bench-auditor-token-0123456789"
		srv, remove, err := newServer(env, config.Config{AuditorToken: token})
		if err != nil {
			return nil, err
		}
		defer remove()
		hs := httptest.NewServer(srv.Handler()) // the feed needs no read model: not started
		defer hs.Close()

		// The first read of new rows sets their hint bits (and writes the
		// pages): one untimed read first, so that neither side pays it.
		if _, err := readRaw(ctx, env, after, limit); err != nil {
			return nil, err
		}

		// Rounds, feed then plain SQL in turn, each side's rate over all
		// its rounds: one read takes a fraction of a second, too short
		// to stand for either alone.
		var read, raw int
		var feedTime, rawTime time.Duration
		for range feedRounds {
			start := time.Now()
			n, err := readFeed(ctx, hs.URL, token, after, limit)
			if err != nil {
				return nil, err
			}
			read, feedTime = read+n, feedTime+time.Since(start)

			start = time.Now()
			if n, err = readRaw(ctx, env, after, limit); err != nil {
				return nil, err
			}
			raw, rawTime = raw+n, rawTime+time.Since(start)
		}
		feedRate := float64(read) / feedTime.Seconds()
		rawRate := float64(raw) / rawTime.Seconds()
		return []Result{{
			Name: name, Unit: "events/s", Value: feedRate, Baseline: rawRate, Target: MinRatio(0.6), // issue 9
			Note: fmt.Sprintf("%d events over HTTP+JSON vs %d rows by plain SQL, in %d rounds", read, raw, feedRounds),
		}}, nil
	}}
}

// readFeed follows the feed from after until a page comes back empty.
func readFeed(ctx context.Context, base, token string, after int64, limit int) (int, error) {
	client := &http.Client{Timeout: time.Minute}
	n := 0
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet,
			fmt.Sprintf("%s/api/v1/events?after=%d&limit=%d", base, after, limit), nil)
		if err != nil {
			return n, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return n, err
		}
		var page struct {
			Events    []jsontext.Value `json:"events"`
			NextAfter int64            `json:"next_after"`
		}
		// One pass over the page (encoding/json validates a document, then
		// decodes it), as a consumer that cares for speed would read it.
		err = jsonv2.UnmarshalRead(resp.Body, &page)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil {
			return n, fmt.Errorf("event feed: status %d: %v", resp.StatusCode, err)
		}
		if len(page.Events) == 0 {
			return n, nil
		}
		n += len(page.Events)
		after = page.NextAfter
	}
}

// readRaw reads the same rows by keyset pages with plain SQL.
func readRaw(ctx context.Context, env *Env, after int64, limit int) (int, error) {
	n := 0
	for {
		rows, err := env.Pool.Query(ctx, `
SELECT position, event_id, stream_id, stream_version, event_type, data, metadata, recorded_at
FROM events WHERE position > $1 ORDER BY position LIMIT $2`, after, limit)
		if err != nil {
			return n, err
		}
		got := 0
		for rows.Next() {
			var (
				pos, version int64
				id           uuid.UUID
				stream, typ  string
				data, meta   []byte
				recorded     time.Time
			)
			if err := rows.Scan(&pos, &id, &stream, &version, &typ, &data, &meta, &recorded); err != nil {
				rows.Close()
				return n, err
			}
			after = pos
			got++
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return n, err
		}
		if got == 0 {
			return n, nil
		}
		n += got
	}
}

// appendVisible appends n bench events (a multiple of 100), 100 to a
// stream named prefix and a number, then waits, a minute at most, until
// gap-safe readers see them: a measurement that read them at once could
// read fewer, held back by a transaction in flight elsewhere on the
// cluster (another test's database, in make test). It returns the last
// one's position.
func appendVisible(ctx context.Context, s *eventstore.Store, prefix string, n int) (int64, error) {
	var last int64
	for i := 0; i < n; i += 100 {
		events := make([]eventstore.Event, 100)
		for j := range events {
			events[j] = eventstore.Event{ID: uuid.New(), Type: "BenchEvent", Data: eventData, Metadata: eventMetadata}
		}
		res, err := s.Append(ctx, prefix+strconv.Itoa(i/100), eventstore.NoStream, events...)
		if err != nil {
			return 0, err
		}
		last = res.LastPosition()
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return last, s.WaitVisible(ctx, last)
}
