package eventstore

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"
)

// notifyChannel is the PostgreSQL channel on which processes tell each
// other that events were committed.
const notifyChannel = "selfcare_events"

// Signal is a broadcast: everyone waiting on C() is woken by the next Notify.
type Signal struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewSignal returns a signal nobody has notified yet.
func NewSignal() *Signal { return &Signal{ch: make(chan struct{})} }

// C returns a channel closed by the next Notify. Take it before checking
// the condition you wait for, so a notification in between is not lost.
func (s *Signal) C() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

// Notify wakes every waiter.
func (s *Signal) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	close(s.ch)
	s.ch = make(chan struct{})
}

// committed is called after a commit that appended events: local waiters
// wake at once; other processes are told through NOTIFY, coalesced so that
// a burst of commits costs one notification, sent outside the appending
// transactions (a NOTIFY inside them would serialise their commits).
func (s *Store) committed() {
	s.changes.Notify()
	select {
	case s.remote <- struct{}{}:
	default:
	}
}

// Listen keeps this process informed of commits made by other processes
// (LISTEN), and forwards its own commits to them (NOTIFY, with the
// store's id, so that it ignores its own), until ctx ends.
// Without it, the change signal only covers this process's own appends.
func (s *Store) Listen(ctx context.Context, logger *slog.Logger) {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.forwardCommits(ctx, logger)
	}()
	go func() {
		defer wg.Done()
		s.listenCommits(ctx, logger)
	}()
	wg.Wait()
}

// notifySQL tells the other processes ($1, the channel) that this store
// ($2) committed. A NOTIFY makes its transaction write a commit record,
// which would wait for a WAL flush of its own beside the appends it
// announces; it commits without waiting, as a lost notification costs a
// listener nothing it does not poll for anyway.
const notifySQL = `SELECT pg_notify($1, $2), set_config('synchronous_commit', 'off', true)`

func (s *Store) forwardCommits(ctx context.Context, logger *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.remote:
		}
		if _, err := s.pool.Exec(ctx, notifySQL, notifyChannel, s.id); err != nil && ctx.Err() == nil {
			logger.Warn("notify other processes of new events", "err", err)
		}
	}
}

func (s *Store) listenCommits(ctx context.Context, logger *slog.Logger) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		logger.Warn("listening for events of other processes", "err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 5*time.Second)
	}
}

func (s *Store) listenOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	// The connection is dedicated to LISTEN; do not give it back to the pool.
	pc := conn.Hijack()
	defer pc.Close(context.Background())
	if _, err := pc.Exec(ctx, "LISTEN "+notifyChannel); err != nil {
		return err
	}
	// Events may have been committed while we were not listening.
	s.changes.Notify()
	for {
		n, err := pc.WaitForNotification(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return errors.Join(errors.New("wait for notification"), err)
		}
		if n.Payload == s.id {
			// This store's own commit, signalled when it was made: waking
			// every waiter again would only have them read nothing new.
			continue
		}
		s.changes.Notify()
	}
}
