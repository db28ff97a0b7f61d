package mail

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Sender delivers the outbox's jobs. Several processes may run one: a job
// is leased before it is sent, so only one sends it (a process that dies
// while sending lets the lease lapse, and the job is sent again: delivery is
// at least once). Its times are the real clock's: retry pacing is about the
// relay, not the business clock that tests move.
//
// It runs lanes of workers, each leasing a few jobs at a time and sending
// them one by one: Workers lanes take any job, urgent ones first; Urgent
// lanes take urgent jobs only (PriorityOf), so that a code is sent at once
// even while every other lane is busy with a backlog of confirmations.
type Sender struct {
	Pool      *pgxpool.Pool
	Transport Transport
	Renderer  *Renderer
	From      string
	Logger    *slog.Logger
	// Workers and Urgent are how many lanes of each kind run (defaults
	// DefaultWorkers and DefaultUrgent).
	Workers int
	Urgent  int
}

// Lanes of a Sender by default.
const (
	DefaultWorkers = 4
	DefaultUrgent  = 1
)

const (
	// batch is how many jobs a lane leases at a time.
	batch = 10
	lease = 2 * time.Minute
	// pollInterval is how often an idle lane looks at the outbox;
	// urgentPollInterval for the urgent lanes (what a code may wait).
	pollInterval       = 200 * time.Millisecond
	urgentPollInterval = 50 * time.Millisecond
	// retryBase is the first retry's delay, doubled at each failure up to
	// retryMax; maxAttempts failures mark the job failed (about a day).
	retryBase   = time.Second
	retryMax    = time.Hour
	maxAttempts = 20
)

// Run delivers due jobs until ctx ends.
func (s *Sender) Run(ctx context.Context) {
	workers, urgent := s.Workers, s.Urgent
	if workers <= 0 {
		workers = DefaultWorkers
	}
	if urgent <= 0 {
		urgent = DefaultUrgent
	}
	var wg sync.WaitGroup
	for i := 0; i < workers+urgent; i++ {
		wg.Add(1)
		go func(urgentOnly bool) {
			defer wg.Done()
			s.lane(ctx, urgentOnly)
		}(i < urgent)
	}
	wg.Wait()
	if c, ok := s.Transport.(io.Closer); ok {
		_ = c.Close()
	}
}

func (s *Sender) lane(ctx context.Context, urgentOnly bool) {
	idle := pollInterval
	if urgentOnly {
		idle = urgentPollInterval
	}
	for ctx.Err() == nil {
		n, err := s.sendDue(ctx, urgentOnly)
		if err != nil && ctx.Err() == nil {
			s.Logger.Error("mail outbox", "err", err)
		}
		if n == batch {
			continue
		}
		select {
		case <-ctx.Done():
		case <-time.After(idle):
		}
	}
}

// SendDue sends the jobs due now (at most one batch, urgent ones first)
// and returns how many it tried.
func (s *Sender) SendDue(ctx context.Context) (int, error) { return s.sendDue(ctx, false) }

// asyncCommit, joined into a statement that runs on its own (its own
// implicit transaction), has that transaction commit without waiting for
// the WAL flush: synchronous_commit is read at commit time.
//
// The sender's leases and "sent" marks commit so. Each waited for its own
// flush, one or two per mail, and those flushes were taken from the
// commands (one client's orders: p50 3.8-4.0 ms with the sender running,
// 3.1 ms without it). What asynchronous commit risks is a crash of
// PostgreSQL itself (not of selfcare) within the WAL writer's delay: a
// lost lease lets the job be leased again, a lost mark has it sent again
// when its lease ends. The outbox is at-least-once either way (a crash
// between the SMTP server's answer and the mark sends it again too).
const asyncCommit = `(SELECT set_config('synchronous_commit', 'off', true)) AS async_commit`

// leaseSQL leases a batch of due jobs; $4 true leases urgent jobs only.
const leaseSQL = `
UPDATE mail_outbox SET lease_until = $2
FROM ` + asyncCommit + `
WHERE id IN (
    SELECT id FROM mail_outbox
    WHERE sent_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $1 AND (lease_until IS NULL OR lease_until <= $1)
      AND (NOT $4::boolean OR priority = 0)
    ORDER BY priority, next_attempt_at, id LIMIT $3
    FOR UPDATE SKIP LOCKED)
RETURNING id, event_id, kind, recipient, language, params, attempts`

// markSentSQL records that job $1 was sent at $2.
const markSentSQL = `UPDATE mail_outbox SET sent_at = $2, attempts = attempts + 1, lease_until = NULL, last_error = NULL
FROM ` + asyncCommit + ` WHERE id = $1`

func (s *Sender) sendDue(ctx context.Context, urgentOnly bool) (int, error) {
	now := time.Now().UTC()
	rows, err := s.Pool.Query(ctx, leaseSQL, now, now.Add(lease), batch, urgentOnly)
	if err != nil {
		return 0, fmt.Errorf("lease mail jobs: %w", err)
	}
	jobs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Job, error) {
		var j Job
		var params []byte
		var id uuid.UUID
		if err := r.Scan(&j.ID, &id, &j.Kind, &j.Recipient, &j.Language, &params, &j.Attempts); err != nil {
			return j, err
		}
		j.EventID = id
		return j, json.Unmarshal(params, &j.Params)
	})
	if err != nil {
		return 0, fmt.Errorf("lease mail jobs: %w", err)
	}
	// Urgent jobs of the batch first (RETURNING keeps no order).
	sort.SliceStable(jobs, func(a, b int) bool { return PriorityOf(jobs[a].Kind) < PriorityOf(jobs[b].Kind) })
	for _, j := range jobs {
		s.deliver(ctx, j)
	}
	return len(jobs), nil
}

func (s *Sender) deliver(ctx context.Context, j Job) {
	err := s.send(ctx, j)
	// The outcome is recorded even during a shutdown.
	ctx = context.WithoutCancel(ctx)
	now := time.Now().UTC()
	log := s.Logger.With("mail_id", j.ID, "kind", j.Kind, "attempt", j.Attempts+1)
	if err == nil {
		if _, err := s.Pool.Exec(ctx, markSentSQL, j.ID, now); err != nil {
			log.Error("mail sent, but not marked so: it may be sent again", "err", err)
			return
		}
		log.Info("mail sent")
		return
	}
	attempts := j.Attempts + 1
	if attempts >= maxAttempts {
		_, uerr := s.Pool.Exec(ctx, `UPDATE mail_outbox SET failed_at = $2, attempts = $3, lease_until = NULL, last_error = $4 WHERE id = $1`,
			j.ID, now, attempts, err.Error())
		log.Error("mail given up", "err", err, "update_err", uerr)
		return
	}
	delay := backoff(attempts)
	_, uerr := s.Pool.Exec(ctx, `UPDATE mail_outbox SET next_attempt_at = $2, attempts = $3, lease_until = NULL, last_error = $4 WHERE id = $1`,
		j.ID, now.Add(delay), attempts, err.Error())
	log.Warn("mail not sent; will retry", "err", err, "retry_in", delay, "update_err", uerr)
}

func (s *Sender) send(ctx context.Context, j Job) error {
	m, err := s.Renderer.Render(j)
	if err != nil {
		return err
	}
	msg, err := build(s.From, m, time.Now())
	if err != nil {
		return err
	}
	return s.Transport.Send(ctx, msg)
}

// backoff is the delay before attempt n+1: retryBase·2^(n-1), capped at
// retryMax, with up to 20 % jitter so that jobs failed together do not
// retry together.
func backoff(n int) time.Duration {
	d := retryBase
	for i := 1; i < n && d < retryMax; i++ {
		d *= 2
	}
	d = min(d, retryMax)
	return d + time.Duration(rand.Int64N(int64(d)/5+1))
}
