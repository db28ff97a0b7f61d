package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// event is an event of selfcare's feed, as much of it as billing reads.
type event struct {
	Position int64           `json:"position"`
	EventID  string          `json:"event_id"`
	Type     string          `json:"type"`
	Stream   string          `json:"stream"`
	Data     json.RawMessage `json:"data"`
	Metadata struct {
		Contract string `json:"contract"`
	} `json:"metadata"`
}

// page is one answer of the feed.
type page struct {
	Events    []event `json:"events"`
	NextAfter *int64  `json:"next_after"`
}

// feed reads GET /api/v1/events of one selfcare server.
type feed struct {
	base   string
	token  string
	types  []string
	limit  int
	wait   time.Duration
	client *http.Client
}

func newFeed(base, token string, types []string, limit int, wait time.Duration) *feed {
	return &feed{
		base: strings.TrimRight(base, "/"), token: token, types: types, limit: limit, wait: wait,
		// Long enough for the server's long poll and a slow answer.
		client: &http.Client{Timeout: wait + 30*time.Second},
	}
}

// permanentError is a refusal that retrying will not change (bad token,
// bad request): the consumer stops and says why.
type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// read returns the events after position after, waiting up to f.wait for
// some. Network errors and 5xx/429 answers are worth retrying; other
// refusals come back as a permanentError.
func (f *feed) read(ctx context.Context, after int64) (page, error) {
	q := url.Values{
		"after": {strconv.FormatInt(after, 10)},
		"types": {strings.Join(f.types, ",")},
		"limit": {strconv.Itoa(f.limit)},
		"wait":  {strconv.FormatFloat(f.wait.Seconds(), 'f', -1, 64)},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.base+"/api/v1/events?"+q.Encode(), nil)
	if err != nil {
		return page{}, permanentError{err}
	}
	req.Header.Set("Authorization", "Bearer "+f.token)
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return page{}, err
	}
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		return page{}, fmt.Errorf("feed answered %s: %s", resp.Status, snippet(body))
	default:
		return page{}, permanentError{fmt.Errorf("feed refused the request (%s): %s", resp.Status, snippet(body))}
	}
	var p page
	if err := json.Unmarshal(body, &p); err != nil {
		return page{}, fmt.Errorf("feed answer is not JSON: %w", err)
	}
	if p.NextAfter == nil || *p.NextAfter < after {
		return page{}, errors.New("feed answer without a valid next_after")
	}
	for i, e := range p.Events {
		if e.Position <= after || (i > 0 && e.Position <= p.Events[i-1].Position) || e.Position > *p.NextAfter {
			return page{}, fmt.Errorf("feed answer out of order at position %d", e.Position)
		}
	}
	return p, nil
}

func snippet(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
