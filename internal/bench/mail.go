package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/internal/mail"
)

// sink is a local SMTP server that accepts every message and counts them:
// the relay of the bench's servers (whose order confirmations would
// otherwise fail and be retried, drowning the table in warnings) and of
// the mail measurement.
type sink struct {
	Addr string
	srv  *smtp.Server

	mu       sync.Mutex
	received int
	first    map[string]time.Time // recipient -> when its first message arrived
}

func startSink() (*sink, error) {
	s := &sink{first: map[string]time.Time{}}
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &sinkSession{s: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: SMTP sink: %w", err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *sink) Close() { _ = s.srv.Close() }

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.received
}

func (s *sink) arrived(rcpt string) (time.Time, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.first[strings.ToLower(rcpt)]
	return t, ok
}

type sinkSession struct {
	s  *sink
	to []string
}

func (ss *sinkSession) Reset()                               { ss.to = nil }
func (ss *sinkSession) Logout() error                        { return nil }
func (ss *sinkSession) Mail(string, *smtp.MailOptions) error { return nil }
func (ss *sinkSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.to = append(ss.to, to)
	return nil
}
func (ss *sinkSession) Data(r io.Reader) error {
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	now := time.Now()
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	ss.s.received++
	for _, to := range ss.to {
		if _, ok := ss.s.first[strings.ToLower(to)]; !ok {
			ss.s.first[strings.ToLower(to)] = now
		}
	}
	return nil
}

var (
	benchSinkOnce sync.Once
	benchSink     *sink
	benchSinkErr  error
)

// sharedSink is the relay of the bench's servers, started once.
func sharedSink() (*sink, error) {
	benchSinkOnce.Do(func() { benchSink, benchSinkErr = startSink() })
	return benchSink, benchSinkErr
}

// MailDelivery measures the mail sender against a local SMTP server: the
// mails/s it delivers from a backlog of order confirmations, and how long
// a verification code enqueued behind that backlog waits.
func MailDelivery(backlog int) Measurement {
	name := fmt.Sprintf("mail: %d order confirmations then a verification code, local SMTP", backlog)
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		relay, err := startSink()
		if err != nil {
			return nil, err
		}
		defer relay.Close()
		keys, err := newKeys()
		if err != nil {
			return nil, err
		}
		renderer, err := mail.NewRenderer("http://127.0.0.1:8080/", keys)
		if err != nil {
			return nil, err
		}
		if _, err := env.Pool.Exec(ctx, `DELETE FROM mail_outbox`); err != nil {
			return nil, err
		}
		now := time.Now().UTC()
		if err := pgx.BeginFunc(ctx, env.Pool, func(tx pgx.Tx) error {
			for i := range backlog {
				j := mail.Job{EventID: uuid.New(), Kind: mail.KindOrderConfirmation, Recipient: "buyer@example.com", Language: "en",
					Params: map[string]string{"login": "bench.user", "email": "buyer@example.com", "civility": "mr", "last_name": "Bench",
						"first_name": "Paul", "contract_id": "OCB0000001", "contract_name": "Bench", "ref": fmt.Sprintf("BENCH1-2611-%03d", i+1),
						"name": "Expert service", "service_code": "PS104", "placed_at": "2026-11-24 09:00", "price": "240.60",
						"monthly_price": "", "initial_payment": ""}}
				if err := mail.Enqueue(ctx, tx, j, now); err != nil {
					return err
				}
			}
			code := mail.Job{EventID: uuid.New(), Kind: mail.KindVerificationCode, Recipient: "coder@example.com", Language: "en",
				Params: map[string]string{"login": "bench.coder", "email": "coder@example.com", "civility": "mrs", "last_name": "Bench", "first_name": "Marie"}}
			return mail.Enqueue(ctx, tx, code, now.Add(time.Millisecond))
		}); err != nil {
			return nil, err
		}
		sender := &mail.Sender{Pool: env.Pool, Transport: &mail.SMTP{Addr: relay.Addr}, Renderer: renderer,
			From: "bench@localhost", Logger: quiet(env.Logger)}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan struct{})
		start := time.Now()
		go func() { defer close(done); sender.Run(runCtx) }()
		deadline := start.Add(time.Minute)
		for relay.count() < backlog+1 && time.Now().Before(deadline) && ctx.Err() == nil {
			time.Sleep(5 * time.Millisecond)
		}
		elapsed := time.Since(start)
		stop()
		<-done
		delivered := relay.count()
		at, ok := relay.arrived("coder@example.com")
		if !ok {
			return nil, fmt.Errorf("bench: the verification code was not delivered (%d of %d mails in %v)", delivered, backlog+1, elapsed)
		}
		return []Result{
			{Name: fmt.Sprintf("mails delivered to a local SMTP server (%d)", delivered), Unit: "mails/s",
				Value: float64(delivered) / elapsed.Seconds(), Target: AtLeast(200, "mails/s")},
			{Name: fmt.Sprintf("verification code enqueued behind %d confirmations", backlog), Unit: "ms",
				Value: millis(at.Sub(start)), Target: Below(5000, "ms"), Note: "from the sender's start to its delivery"},
		}, nil
	}}
}
