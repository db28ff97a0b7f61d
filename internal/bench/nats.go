package bench

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"selfcare/eventstore"
	"selfcare/handlers"
	"selfcare/internal/config"
	"selfcare/internal/natsfwd"
)

// NATSServerBinary is the nats-server that the NATS measurement runs, or
// "" when there is none (the measurement is then left out).
func NATSServerBinary() string {
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	return ""
}

// NATSForwarding measures, on natsEvents events (a multiple of 100), the event stream on NATS JetStream with a real
// nats-server (file storage) started for it: how many events per second
// the forwarder (internal/natsfwd) publishes and a consumer receives end
// to end, beside the HTTP feed's rate on the same events; then, with
// writers appending single events at a pace, the lag from an append's
// commit to the consumer's commit of it.
//
// The consumer is the billing consumer's (cmd/billing-consumer -nats)
// JetStream set-up, a durable push consumer through watermill with one
// message unacknowledged at a time, each recorded with its position in
// a PostgreSQL transaction before the ack; it records a checkpoint row
// only, not billing's counts.
func NATSForwarding(natsEvents int) Measurement {
	name := "NATS JetStream forwarding"
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		ns, err := startNATSServer(ctx)
		if err != nil {
			return nil, err
		}
		defer ns.stop()

		// The forwarder starts after what the other measurements appended.
		head, err := env.Store.Head(ctx)
		if err != nil {
			return nil, err
		}
		if _, err := env.Pool.Exec(ctx, `INSERT INTO nats_forwarder (stream, position) VALUES ($1, $2)
ON CONFLICT (stream) DO UPDATE SET position = excluded.position`, natsfwd.Stream, head); err != nil {
			return nil, err
		}
		if _, err := env.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_nats_consumer (id int PRIMARY KEY, position bigint NOT NULL)`); err != nil {
			return nil, err
		}
		if _, err := env.Pool.Exec(ctx, `INSERT INTO bench_nats_consumer VALUES (1, 0) ON CONFLICT (id) DO UPDATE SET position = 0`); err != nil {
			return nil, err
		}
		last, err := appendVisible(ctx, env.Store, "bench-nats-", natsEvents)
		if err != nil {
			return nil, err
		}

		// The HTTP feed's rate on the same events, as the baseline.
		const token = "bench-auditor-token-0123456789"
		srv, remove, err := newServer(env, config.Config{AuditorToken: token})
		if err != nil {
			return nil, err
		}
		defer remove()
		hs := httptest.NewServer(srv.Handler())
		start := time.Now()
		read, err := readFeed(ctx, hs.URL, token, head, 500)
		hs.Close()
		if err != nil {
			return nil, err
		}
		feedRate := float64(read) / time.Since(start).Seconds()

		c, err := newBenchConsumer(ctx, env, ns.url)
		if err != nil {
			return nil, err
		}
		defer c.close()
		fwd := natsfwd.New(natsfwd.Options{Store: env.Store, URL: ns.url, Encode: handlers.FeedEvent, Logger: slog.New(slog.DiscardHandler)})
		fctx, stopForwarder := context.WithCancel(ctx)
		forwarded := make(chan struct{})
		go func() { defer close(forwarded); fwd.Run(fctx) }()
		defer func() { stopForwarder(); <-forwarded }()
		go env.Store.Listen(fctx, slog.New(slog.DiscardHandler))

		start = time.Now()
		var forwardTime, consumeTime time.Duration
		for forwardTime == 0 || consumeTime == 0 {
			if time.Since(start) > 5*time.Minute {
				return nil, errors.New("the NATS measurement did not finish in 5 minutes")
			}
			if forwardTime == 0 {
				if s, err := fwd.Status(ctx); err == nil && s.Position >= last {
					forwardTime = time.Since(start)
				}
			}
			if consumeTime == 0 && c.position() >= last {
				consumeTime = time.Since(start)
			}
			time.Sleep(2 * time.Millisecond)
		}
		results := []Result{
			{Name: "NATS forward", Unit: "events/s", Value: float64(natsEvents) / forwardTime.Seconds(), Baseline: feedRate,
				Note: fmt.Sprintf("%d events published, each acked by JetStream; baseline: the HTTP feed, pages of 500", natsEvents)},
			{Name: "NATS forward + consume, end to end", Unit: "events/s", Value: float64(natsEvents) / consumeTime.Seconds(), Baseline: feedRate,
				Note: "one PostgreSQL commit and one ack per event"},
		}

		// Lag: 4 writers appending an event every 10 ms each.
		lags, err := c.lag(ctx, env, 4, 10*time.Millisecond)
		if err != nil {
			return nil, err
		}
		slices.Sort(lags)
		note := fmt.Sprintf("%d appends, commit → consumer commit", len(lags))
		return append(results,
			Result{Name: "NATS lag p50", Unit: "ms", Value: quantile(lags, 0.50), Target: Below(50, "ms"), Note: note},
			Result{Name: "NATS lag p99", Unit: "ms", Value: quantile(lags, 0.99), Target: Below(250, "ms")},
		), nil
	}}
}

// natsServer is a nats-server process on a temporary directory.
type natsServer struct {
	cmd *exec.Cmd
	dir string
	url string
}

func startNATSServer(ctx context.Context) (*natsServer, error) {
	bin := NATSServerBinary()
	if bin == "" {
		return nil, errors.New("no nats-server")
	}
	dir, err := os.MkdirTemp("", "selfcare-bench-nats-")
	if err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	s := &natsServer{dir: dir, url: "nats://127.0.0.1:" + strconv.Itoa(port)}
	s.cmd = exec.Command(bin, "-js", "-sd", dir, "-a", "127.0.0.1", "-p", strconv.Itoa(port))
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		nc, err := nats.Connect(s.url, nats.Timeout(time.Second))
		if err == nil {
			js, _ := jetstream.New(nc)
			_, err = js.AccountInfo(ctx)
			nc.Close()
			if err == nil {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("nats-server did not start: %w", err)
		}
	}
}

func (s *natsServer) stop() {
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	os.RemoveAll(s.dir)
}

// benchConsumer consumes the stream as the billing consumer does.
type benchConsumer struct {
	sub    *wnats.Subscriber
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	pos      int64
	consumed map[string]time.Time // event id -> its commit, while lag watches
}

func newBenchConsumer(ctx context.Context, env *Env, url string) (*benchConsumer, error) {
	nc, err := nats.Connect(url)
	if err != nil {
		return nil, err
	}
	if err := natsfwd.EnsureStream(ctx, nc); err != nil {
		nc.Close()
		return nil, err
	}
	sub, err := wnats.NewSubscriberWithNatsConn(nc, wnats.SubscriberSubscriptionConfig{
		Unmarshaler: &wnats.NATSMarshaler{},
		JetStream: wnats.JetStreamConfig{
			DurablePrefix: "bench",
			SubscribeOptions: []nats.SubOpt{nats.BindStream(natsfwd.Stream), nats.DeliverAll(), nats.ManualAck(),
				nats.AckExplicit(), nats.MaxAckPending(1)},
		},
	}, watermill.NopLogger{})
	if err != nil {
		nc.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	msgs, err := sub.Subscribe(sctx, natsfwd.SubjectPrefix+".>")
	if err != nil {
		cancel()
		sub.Close()
		return nil, err
	}
	c := &benchConsumer{sub: sub, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for msg := range msgs {
			pos, err := strconv.ParseInt(msg.Metadata.Get(natsfwd.HeaderPosition), 10, 64)
			if err == nil {
				err = pgx.BeginFunc(sctx, env.Pool, func(tx pgx.Tx) error {
					_, err := tx.Exec(sctx, `UPDATE bench_nats_consumer SET position = $1 WHERE id = 1 AND position < $1`, pos)
					return err
				})
			}
			if err != nil {
				msg.Nack()
				continue
			}
			now := time.Now()
			msg.Ack()
			c.mu.Lock()
			c.pos = max(c.pos, pos)
			if c.consumed != nil {
				c.consumed[msg.UUID] = now
			}
			c.mu.Unlock()
		}
	}()
	return c, nil
}

func (c *benchConsumer) position() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pos
}

func (c *benchConsumer) close() {
	c.cancel()
	c.sub.Close()
	<-c.done
}

// lag has writers append single events, each pausing after its append,
// for env.Duration, and returns for each the time from its commit to the
// consumer's commit.
func (c *benchConsumer) lag(ctx context.Context, env *Env, writers int, pause time.Duration) ([]time.Duration, error) {
	c.mu.Lock()
	c.consumed = map[string]time.Time{}
	c.mu.Unlock()
	var (
		mu        sync.Mutex
		committed = map[string]time.Time{}
		wg        sync.WaitGroup
		firstErr  error
	)
	deadline := time.Now().Add(env.Duration)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				id := uuid.New()
				_, err := env.Store.Append(ctx, "bench-nats-lag-"+id.String(), eventstore.NoStream,
					eventstore.Event{ID: id, Type: "BenchEvent", Data: eventData, Metadata: eventMetadata})
				now := time.Now()
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				committed[id.String()] = now
				mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	var lags []time.Duration
	for end := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		c.mu.Lock()
		lags = lags[:0]
		for id, at := range committed {
			if got, ok := c.consumed[id]; ok {
				lags = append(lags, got.Sub(at))
			}
		}
		c.mu.Unlock()
		if len(lags) == len(committed) {
			return lags, nil
		}
		if time.Now().After(end) {
			return nil, fmt.Errorf("the consumer got %d of %d events a minute after the last append", len(lags), len(committed))
		}
	}
}
