// Package projections is the read side's runtime: it feeds each projector
// the events it handles in position order, stores the projector's
// checkpoint in the same transaction as its read-model writes, follows new
// events live, and rebuilds a read model beside the live one before
// swapping it in. Read models live in sub-packages, one per view.
package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
)

// Projector builds one read model from events.
type Projector struct {
	// Name identifies the projector; its tables live in schema "rm_<Name>".
	Name string
	// Version is bumped whenever Schema or Handle change meaning: at start,
	// a read model built by another version is rebuilt from position 0.
	Version int
	// Schema is the DDL of the read model's tables, with unqualified names.
	Schema string
	// Types are the event types Handle receives; empty means all.
	Types []string
	// Handle applies one event. It runs in the batch's transaction, whose
	// search_path starts with the projector's schema, so unqualified table
	// names are the projector's own.
	Handle func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error
}

// SchemaName is the schema holding p's tables; queries name their tables
// "<SchemaName>.<table>".
func (p Projector) SchemaName() string { return "rm_" + p.Name }

var validName = regexp.MustCompile(`^[a-z][a-z0-9_]{0,40}$`)

const batchSize = 500

// Runner runs projectors.
type Runner struct {
	store      *eventstore.Store
	projectors []Projector
	logger     *slog.Logger

	progress map[string]*atomic.Int64
	failing  map[string]*atomic.Value // last error of a projector, "" when healthy
	moved    *eventstore.Signal
	// PollInterval bounds how long an idle projector waits without a
	// change signal (default 1 s): a safety net, not the wake-up path.
	PollInterval time.Duration
}

// NewRunner returns a runner of projectors on store. It panics on a
// projector without a valid name or on two with the same name: that is a
// programming error caught at start.
func NewRunner(store *eventstore.Store, logger *slog.Logger, projectors ...Projector) *Runner {
	r := &Runner{
		store:        store,
		projectors:   projectors,
		logger:       logger,
		progress:     map[string]*atomic.Int64{},
		failing:      map[string]*atomic.Value{},
		moved:        eventstore.NewSignal(),
		PollInterval: time.Second,
	}
	for _, p := range projectors {
		if !validName.MatchString(p.Name) {
			panic(fmt.Sprintf("projections: invalid projector name %q", p.Name))
		}
		if _, dup := r.progress[p.Name]; dup {
			panic(fmt.Sprintf("projections: two projectors named %q", p.Name))
		}
		r.progress[p.Name] = &atomic.Int64{}
		v := &atomic.Value{}
		v.Store("")
		r.failing[p.Name] = v
	}
	return r
}

// Projectors returns the runner's projectors.
func (r *Runner) Projectors() []Projector { return r.projectors }

// Prepare makes every read model usable: it creates the checkpoint of a
// new projector and (re)builds a read model that does not exist yet or was
// built by another version of its projector. Run calls it first.
func (r *Runner) Prepare(ctx context.Context) error {
	for _, p := range r.projectors {
		ok, pos, err := r.current(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			r.progress[p.Name].Store(pos)
			continue
		}
		r.logger.Info("building read model", "projector", p.Name, "version", p.Version)
		if err := r.rebuild(ctx, p, false, nil); err != nil {
			return err
		}
	}
	return nil
}

// current reports whether p's read model exists and was built by p's version.
func (r *Runner) current(ctx context.Context, p Projector) (bool, int64, error) {
	var pos int64
	var version int
	var schemaExists bool
	err := r.store.Pool().QueryRow(ctx, `
SELECT coalesce(c.position, 0), coalesce(c.version, -1),
       EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $2)
FROM (SELECT 1) one LEFT JOIN projection_checkpoints c ON c.name = $1`, p.Name, p.SchemaName()).Scan(&pos, &version, &schemaExists)
	if err != nil {
		return false, 0, fmt.Errorf("projections: checkpoint of %s: %w", p.Name, err)
	}
	return schemaExists && version == p.Version, pos, nil
}

// Run prepares the read models, then follows the event store with every
// projector until ctx ends. It returns the first preparation error, or nil
// when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	if err := r.Prepare(ctx); err != nil {
		return err
	}
	r.Follow(ctx)
	return nil
}

// Follow applies new events with every projector until ctx ends; the read
// models must have been prepared.
func (r *Runner) Follow(ctx context.Context) {
	var wg sync.WaitGroup
	for _, p := range r.projectors {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.follow(ctx, p)
		}()
	}
	wg.Wait()
}

func (r *Runner) follow(ctx context.Context, p Projector) {
	retry := 50 * time.Millisecond
	heldBackWait := time.Millisecond
	for ctx.Err() == nil {
		changed := r.store.Changes().C()
		before := r.progress[p.Name].Load()
		caughtUp, heldBack, err := r.step(ctx, p)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.failing[p.Name].Store(err.Error())
			r.logger.Error("projector failed; retrying", "projector", p.Name, "err", err, "retry_in", retry)
			sleep(ctx, retry)
			retry = min(retry*2, 10*time.Second)
			continue
		}
		retry = 50 * time.Millisecond
		r.failing[p.Name].Store("")
		if !caughtUp {
			continue
		}
		if heldBack {
			// Committed events wait behind an older transaction that will
			// not necessarily signal when it ends: look again soon, less
			// often while nothing moves. Under a steady load nearly every
			// read finds something held back: while batches go through,
			// the wait stays short, or the lag would grow to its maximum.
			if r.progress[p.Name].Load() > before {
				heldBackWait = time.Millisecond
			}
			sleep(ctx, heldBackWait)
			heldBackWait = min(heldBackWait*2, 50*time.Millisecond)
			continue
		}
		heldBackWait = time.Millisecond
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-time.After(r.PollInterval):
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// step applies one batch of events to p's read model, with the checkpoint,
// in one transaction. Projectors of the same name in other processes are
// excluded by an advisory lock, so each event has its effect exactly once.
func (r *Runner) step(ctx context.Context, p Projector) (caughtUp, heldBack bool, err error) {
	var reached int64
	err = pgx.BeginFunc(ctx, r.store.Pool(), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('projection:' || $1, 0))`, p.Name); err != nil {
			return err
		}
		var pos int64
		var version int
		if err := tx.QueryRow(ctx, `SELECT position, version FROM projection_checkpoints WHERE name = $1`, p.Name).Scan(&pos, &version); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		if version != p.Version {
			return fmt.Errorf("read model %s was built by version %d, this is version %d: restart to rebuild it", p.Name, version, p.Version)
		}
		page, err := r.store.ReadPage(ctx, tx, pos, eventstore.ReadOptions{Types: p.Types, Limit: batchSize})
		if err != nil {
			return err
		}
		caughtUp, heldBack = len(page.Records) < batchSize, page.HeldBack
		reached = page.Next
		if page.Next == pos {
			return nil
		}
		n, err := r.apply(ctx, tx, p, p.SchemaName(), page.Records, time.Now().Add(maxBatchDuration))
		if err != nil {
			return err
		}
		if n < len(page.Records) {
			// Stopped early: the rest of the page comes next time.
			caughtUp, reached = false, page.Records[n-1].Position
		}
		if _, err := tx.Exec(ctx, `UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1`, p.Name, reached); err != nil {
			return fmt.Errorf("checkpoint: %w", err)
		}
		return nil
	})
	if err == nil {
		// Only once committed: a waiter may then read the read model.
		r.advance(p.Name, reached)
	}
	return caughtUp, heldBack, err
}

// maxBatchDuration bounds how long a batch's transaction applies events.
// Once it has written, the transaction holds a transaction id, and every
// gap-safe reader on the server (other projectors, bus subscribers, other
// processes) sees nothing newer until it commits: a long batch, a rebuild's
// above all, would stall them all.
const maxBatchDuration = 100 * time.Millisecond

// apply applies recs in order, stopping after the first one applied past
// deadline (never, if deadline is zero), and returns how many it applied.
func (r *Runner) apply(ctx context.Context, tx pgx.Tx, p Projector, schema string, recs []eventstore.Record, deadline time.Time) (int, error) {
	if len(recs) == 0 {
		return 0, nil
	}
	if _, err := tx.Exec(ctx, `SELECT set_config('search_path', $1, true)`, pgx.Identifier{schema}.Sanitize()+", public"); err != nil {
		return 0, err
	}
	for i, rec := range recs {
		if err := p.Handle(ctx, tx, rec); err != nil {
			return i, fmt.Errorf("projector %s, event %d (%s %s v%d): %w", p.Name, rec.Position, rec.Type, rec.StreamID, rec.Version, err)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return i + 1, nil
		}
	}
	return len(recs), nil
}

// advance records progress made by this process or seen in the checkpoint.
func (r *Runner) advance(name string, pos int64) {
	if c := r.progress[name]; c.Load() < pos {
		c.Store(pos)
		r.moved.Notify()
	}
}

// WaitFor waits until every read model reflects the events up to
// position, so that a client reading right after its write sees it.
// It returns ctx's error if that takes too long.
func (r *Runner) WaitFor(ctx context.Context, position int64) error {
	for {
		moved := r.moved.C()
		if r.reached(position) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for read models to reach %d: %w", position, ctx.Err())
		case <-moved:
		}
	}
}

func (r *Runner) reached(position int64) bool {
	for _, c := range r.progress {
		if c.Load() < position {
			return false
		}
	}
	return true
}

// Status is the state of one projector, for /readyz and metrics.
type Status struct {
	Name     string        `json:"name"`
	Position int64         `json:"position"`
	Lag      time.Duration `json:"-"`
	LagMS    int64         `json:"lag_ms"`
	Error    string        `json:"error,omitempty"`
}

// Statuses reports, for each projector, its checkpoint and its lag: the
// age of the oldest event it has not applied yet (0 when caught up).
func (r *Runner) Statuses(ctx context.Context) ([]Status, error) {
	now := r.store.Clock().Now()
	var out []Status
	for _, p := range r.projectors {
		s := Status{Name: p.Name, Error: r.failing[p.Name].Load().(string)}
		var oldest *time.Time
		err := r.store.Pool().QueryRow(ctx, `
SELECT c.position, (
    SELECT e.recorded_at FROM events e
    WHERE e.position > c.position
      AND e.position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20
      AND ($2::text[] IS NULL OR e.event_type = ANY($2))
    ORDER BY e.position LIMIT 1)
FROM projection_checkpoints c WHERE c.name = $1`, p.Name, nilIfEmpty(p.Types)).Scan(&s.Position, &oldest)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return nil, fmt.Errorf("projections: status of %s: %w", p.Name, err)
		}
		if oldest != nil {
			s.Lag = max(now.Sub(*oldest), 0)
			s.LagMS = s.Lag.Milliseconds()
		}
		out = append(out, s)
	}
	return out, nil
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}
