// Package natsfwd forwards selfcare's event store to NATS JetStream, for
// billing consumers beyond one machine (README "Event stream on NATS").
//
// Every stored event goes, in position (commit) order, to the stream
// SELFCARE_EVENTS on the subject selfcare.events.<contract>.<EventType>
// ("-" for an event of no contract), its payload the event exactly as the
// HTTP feed shows it (handlers.FeedEvent), its JetStream message id the
// event id and its headers position, stream, version and type.
//
// Delivery to the stream is exactly once per event:
//   - The forwarder publishes a page of events, each publish acknowledged
//     by JetStream before the next, and only then moves its checkpoint in
//     PostgreSQL. A forwarder that dies in between publishes the page again
//     after its restart; JetStream drops what it already holds by message
//     id (Nats-Msg-Id, within the stream's duplicate window).
//   - Of several server processes, one forwards: the one holding a session
//     advisory lock on a connection of its own. When it dies, PostgreSQL
//     ends its session and frees the lock, and another process, retrying
//     every second, takes over from the checkpoint. Two forwarders for a
//     moment (a partitioned leader) only republish: each publishes event
//     k+1 after JetStream acknowledged event k, so the stream keeps
//     position order and de-duplication keeps each event once.
package natsfwd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"selfcare/eventstore"
)

// The JetStream stream and its subjects.
const (
	Stream        = "SELFCARE_EVENTS"
	SubjectPrefix = "selfcare.events"
	// DuplicateWindow is how long JetStream remembers message ids: a
	// forwarder restarted within it republishes without duplicates.
	DuplicateWindow = 10 * time.Minute
)

// Headers of every message, besides Nats-Msg-Id (the event id).
const (
	HeaderPosition = eventstore.MetaPosition
	HeaderStream   = eventstore.MetaStream
	HeaderVersion  = eventstore.MetaVersion
	HeaderType     = eventstore.MetaType
)

// subjectToken is what may stand as one token of a subject as it is.
var subjectToken = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Subject is the subject of an event: selfcare.events.<contract>.<type>.
// A contract id that is not a plain token (never the case for OCB ids)
// is written "-", like no contract, rather than break the subject.
func Subject(r eventstore.Record) string {
	contract := r.Metadata.Contract
	if !subjectToken.MatchString(contract) {
		contract = "-"
	}
	return SubjectPrefix + "." + contract + "." + r.Type
}

// Options configure a Forwarder.
type Options struct {
	Store  *eventstore.Store
	URL    string // NATS server(s), comma-separated
	Encode func(eventstore.Record) ([]byte, error)
	Logger *slog.Logger
	// Batch is how many events a page holds (default 500).
	Batch int
	// Retry is how often a process that does not forward tries to take
	// over, and the first pause after an error (default 1 s).
	Retry time.Duration
}

// Forwarder copies the event store to JetStream while it holds the lock.
type Forwarder struct {
	opts      Options
	published func(n int)

	mu      sync.Mutex
	leading bool
	lastErr string
}

// New returns a forwarder; Run starts it.
func New(opts Options) *Forwarder {
	if opts.Batch <= 0 {
		opts.Batch = 500
	}
	if opts.Retry <= 0 {
		opts.Retry = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	opts.Logger = opts.Logger.With("worker", "nats-forwarder")
	return &Forwarder{opts: opts, published: func(int) {}}
}

// lockKey is the advisory lock that elects the forwarding process.
const lockKey = `hashtextextended('selfcare nats forwarder ` + Stream + `', 0)`

// Run forwards while this process holds the lock, and otherwise waits to
// take over, until ctx ends.
func (f *Forwarder) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := f.lead(ctx)
		f.setLeading(false)
		if err != nil && ctx.Err() == nil {
			f.setErr(err)
			f.opts.Logger.Warn("forwarding to NATS stopped; retrying", "err", err)
		}
		sleep(ctx, f.opts.Retry)
	}
}

// lead takes the lock if it is free and forwards until ctx ends or the
// lock's connection fails. It returns nil at once if another process holds
// the lock.
func (f *Forwarder) lead(ctx context.Context) error {
	cfg := f.opts.Store.Pool().Config().ConnConfig.Copy()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("lock connection: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock(`+lockKey+`)`).Scan(&got); err != nil {
			return fmt.Errorf("lock: %w", err)
		}
		if got {
			break
		}
		sleep(ctx, f.opts.Retry)
		if ctx.Err() != nil {
			return nil
		}
	}
	f.setLeading(true)
	f.opts.Logger.Info("this process forwards the events to NATS", "url", f.opts.URL)
	// Closing conn ends the session, which frees the lock.

	var after int64
	if err := conn.QueryRow(ctx, `
INSERT INTO nats_forwarder (stream) VALUES ($1) ON CONFLICT (stream) DO UPDATE SET stream = excluded.stream
RETURNING position`, Stream).Scan(&after); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}

	backoff := f.opts.Retry
	for ctx.Err() == nil {
		from := after
		err := f.forward(ctx, conn, &after)
		if ctx.Err() != nil {
			return nil
		}
		if after != from {
			backoff = f.opts.Retry // it worked for a while: a new failure
		}
		var lost lockLost
		if errors.As(err, &lost) {
			return err
		}
		f.setErr(err)
		f.opts.Logger.Warn("forwarding to NATS; retrying", "err", err, "after", after, "retry_in", backoff)
		sleep(ctx, backoff)
		backoff = min(backoff*2, 10*time.Second)
		// The lock is still ours only if its session is.
		if err := conn.Ping(ctx); err != nil && ctx.Err() == nil {
			return lockLost{err}
		}
	}
	return nil
}

// lockLost: the lock's connection failed, so the lock may be another's.
type lockLost struct{ err error }

func (e lockLost) Error() string { return "lost the forwarder's lock connection: " + e.err.Error() }
func (e lockLost) Unwrap() error { return e.err }

// forward connects to NATS, makes sure the stream exists and publishes
// pages from *after until ctx ends or an error.
func (f *Forwarder) forward(ctx context.Context, conn *pgx.Conn, after *int64) error {
	nc, err := nats.Connect(f.opts.URL, nats.Name("selfcare forwarder"), nats.MaxReconnects(-1), nats.ReconnectWait(250*time.Millisecond))
	if err != nil {
		return fmt.Errorf("connect to NATS: %w", err)
	}
	if err := EnsureStream(ctx, nc); err != nil {
		nc.Close()
		return err
	}
	wlog := watermill.NewSlogLoggerWithLevelMapping(f.opts.Logger, map[slog.Level]slog.Level{slog.LevelInfo: slog.LevelDebug})
	pub, err := wnats.NewPublisherWithNatsConn(nc, wnats.PublisherPublishConfig{
		Marshaler:         &wnats.NATSMarshaler{},
		SubjectCalculator: wnats.DefaultSubjectCalculator,
		JetStream: wnats.JetStreamConfig{
			TrackMsgId:     true, // Nats-Msg-Id = the event id: the server de-duplicates
			PublishOptions: []nats.PubOpt{nats.ExpectStream(Stream)},
		},
	}, wlog)
	if err != nil {
		nc.Close()
		return err
	}
	defer pub.Close() // closes nc

	store := f.opts.Store
	heldBackWait := time.Millisecond
	lockChecked := time.Now()
	for ctx.Err() == nil {
		changed := store.Changes().C()
		page, err := store.ReadPage(ctx, store.Pool(), *after, eventstore.ReadOptions{Limit: f.opts.Batch})
		if err != nil {
			return err
		}
		for _, rec := range page.Records {
			msg, err := f.message(rec)
			if err != nil {
				return err
			}
			// Publish returns once JetStream has stored the message (or
			// recognised it as a duplicate).
			if err := pub.Publish(Subject(rec), msg); err != nil {
				return fmt.Errorf("publish event %d: %w", rec.Position, err)
			}
		}
		if page.Next != *after {
			if _, err := conn.Exec(ctx, `UPDATE nats_forwarder SET position = $2, updated_at = now() WHERE stream = $1`, Stream, page.Next); err != nil {
				return lockLost{fmt.Errorf("checkpoint: %w", err)}
			}
			*after = page.Next
			lockChecked = time.Now()
			f.published(len(page.Records))
			f.setErr(nil)
		}
		if len(page.Records) == f.opts.Batch {
			continue
		}
		if time.Since(lockChecked) > f.opts.Retry {
			if err := conn.Ping(ctx); err != nil {
				return lockLost{err}
			}
			lockChecked = time.Now()
		}
		wait := f.opts.Retry
		if page.HeldBack {
			// Events wait behind an older transaction, which will not
			// necessarily signal when it ends: look again soon.
			wait = heldBackWait
			heldBackWait = min(heldBackWait*2, 50*time.Millisecond)
		} else {
			heldBackWait = time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-changed:
		case <-t.C:
		}
		t.Stop()
	}
	return nil
}

// message is the watermill message of an event; the NATS marshaler turns
// its metadata into headers.
func (f *Forwarder) message(rec eventstore.Record) (*message.Message, error) {
	payload, err := f.opts.Encode(rec)
	if err != nil {
		return nil, fmt.Errorf("encode event %d: %w", rec.Position, err)
	}
	msg := message.NewMessage(rec.EventID.String(), payload)
	msg.Metadata.Set(HeaderPosition, strconv.FormatInt(rec.Position, 10))
	msg.Metadata.Set(HeaderStream, rec.StreamID)
	msg.Metadata.Set(HeaderVersion, strconv.FormatInt(rec.Version, 10))
	msg.Metadata.Set(HeaderType, rec.Type)
	return msg, nil
}

// EnsureStream creates the stream if it is missing: file storage, every
// subject of selfcare.events, de-duplication over DuplicateWindow. An
// existing stream is left as its operator configured it (replicas, ...).
func EnsureStream(ctx context.Context, nc *nats.Conn) error {
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, err = js.Stream(ctx, Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:        Stream,
			Description: "selfcare's events, in commit order (internal/natsfwd)",
			Subjects:    []string{SubjectPrefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			Duplicates:  DuplicateWindow,
		})
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			err = nil // another process created it meanwhile
		}
	}
	if err != nil {
		return fmt.Errorf("JetStream stream %s: %w", Stream, err)
	}
	return nil
}

func (f *Forwarder) setLeading(v bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.leading = v
}

func (f *Forwarder) setErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = ""
	if err != nil {
		f.lastErr = err.Error()
	}
}

// Status is the forwarder as /readyz shows it.
type Status struct {
	// Forwarding is true in the process that holds the lock.
	Forwarding bool `json:"forwarding"`
	// Position is the checkpoint: every event up to it is in JetStream.
	Position int64 `json:"position"`
	// Head is the last position a gap-safe reader may see.
	Head int64 `json:"head"`
	// LagSeconds is the age of the oldest event not forwarded yet.
	LagSeconds float64 `json:"lag_seconds"`
	Error      string  `json:"error,omitempty"`
}

// Status reads the shared checkpoint: every process reports the same
// position and lag, and whether it is the one forwarding.
func (f *Forwarder) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	s := Status{Forwarding: f.leading, Error: f.lastErr}
	f.mu.Unlock()
	store := f.opts.Store
	var oldest *time.Time
	err := store.Pool().QueryRow(ctx, `
WITH c AS (SELECT coalesce((SELECT position FROM nats_forwarder WHERE stream = $1), 0) AS position),
     b AS (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20 AS bound)
SELECT c.position,
       (SELECT coalesce(max(position), 0) FROM events, b WHERE position < b.bound),
       (SELECT recorded_at FROM events, b WHERE position > c.position AND position < b.bound ORDER BY position LIMIT 1)
FROM c`, Stream).Scan(&s.Position, &s.Head, &oldest)
	if err != nil {
		return s, fmt.Errorf("nats forwarder status: %w", err)
	}
	if oldest != nil {
		s.LagSeconds = max(0, store.Clock().Now().Sub(*oldest).Seconds())
	}
	return s, nil
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
