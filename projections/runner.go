// Package projections is the read side's runtime: it feeds each projector
// the events it handles in position order, stores the projector's
// checkpoint in the same transaction as its read-model writes, follows new
// events live, and rebuilds a read model beside the live one before
// swapping it in. Read models live in sub-packages, one per view.
package projections

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
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
	// Types are the event types the projector handles; empty means all.
	Types []string
	// Handle applies one event. It runs in the batch's transaction, whose
	// search_path starts with the projector's schema, so unqualified table
	// names are the projector's own.
	//
	// The batch's statements are pipelined, so that a batch of events
	// costs a round trip to the server, not one per statement: tx.Exec
	// with arguments only queues its statement and returns an empty command
	// tag (RowsAffected 0) and no error of its own. The queue is sent, its
	// statements run in order, before anything else goes to the server:
	// a read (tx.Query, tx.QueryRow, sent with it, see the effects of the
	// statements queued before), CopyFrom, SendBatch, Prepare, Begin (a
	// savepoint, whose own statements run at once), Conn, an Exec without
	// arguments; and at the end of the batch, with the checkpoint and the
	// commit. So:
	//   - where the command tag matters, call ExecNow(ctx, tx, ...) instead
	//     of tx.Exec: it returns the tag, after the queue, in one round trip;
	//   - a queued statement that fails fails the whole batch, whatever
	//     Handle returns; the error names the event that queued it;
	//   - Handle must not commit or roll back tx.
	Handle func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error
	// HandleBatch, set instead of Handle, applies several events at once,
	// in order, in the same pipelined transaction: for a projector that
	// would otherwise read the database for every event (the audit hash
	// chain: each link needs the one before). Its errors should name the
	// event at fault; the runner adds the range of the batch.
	HandleBatch func(ctx context.Context, tx pgx.Tx, recs []eventstore.Record) error
	// Bulk, if set, returns a Builder that a rebuild uses to build the
	// read model in memory from the first event on, in one read of the
	// store shared with the other read models being rebuilt; Handle (or
	// HandleBatch) then applies the events after that read.
	Bulk func() Builder
	// Background marks a read model that no request reads right after its
	// own write (the audit hash chain): WaitFor does not wait for it, so a
	// write's answer does not either. It follows as closely as the others;
	// WaitForAll waits for it too.
	Background bool
}

// Decoder turns a stored event's data into its domain event (the
// registry does).
type Decoder interface {
	Decode(name string, version int, data []byte) (domain.Event, error)
}

// Decoded is a Handle that decodes each event with reg and hands it to
// apply: what most read models do.
func Decoded(reg Decoder, apply func(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error) func(context.Context, pgx.Tx, eventstore.Record) error {
	return func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
		e, err := reg.Decode(rec.Type, rec.SchemaVersion, rec.Data)
		if err != nil {
			return err
		}
		return apply(ctx, tx, rec, e)
	}
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

	progress   map[string]*atomic.Int64
	failing    map[string]*atomic.Value      // last error of a projector, "" when healthy
	waiting    waiters                       // WaitFor calls
	waitingAll waiters                       // WaitForAll calls
	applied    *eventstore.Signal            // a batch of events was committed
	progressed *eventstore.Signal            // a read model's progress moved (WaitForModel)
	work       map[string]*eventstore.Signal // the tail found events for a projector
	tailPage   int                           // how many event headers the tail reads at a time
	// PollInterval bounds how long an idle projector waits without a
	// change signal (default 1 s): a safety net, not the wake-up path.
	// Its checkpoint may move on then (see persistEvery).
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
		applied:      eventstore.NewSignal(),
		progressed:   eventstore.NewSignal(),
		work:         map[string]*eventstore.Signal{},
		PollInterval: time.Second,
		tailPage:     tailPage,
	}
	for _, p := range projectors {
		if !validName.MatchString(p.Name) {
			panic(fmt.Sprintf("projections: invalid projector name %q", p.Name))
		}
		if _, dup := r.progress[p.Name]; dup {
			panic(fmt.Sprintf("projections: two projectors named %q", p.Name))
		}
		if (p.Handle == nil) == (p.HandleBatch == nil) {
			panic(fmt.Sprintf("projections: projector %q needs one of Handle and HandleBatch", p.Name))
		}
		r.progress[p.Name] = &atomic.Int64{}
		r.work[p.Name] = eventstore.NewSignal()
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
	var missing []Projector
	for _, p := range r.projectors {
		ok, pos, err := r.current(ctx, p)
		if err != nil {
			return err
		}
		if ok {
			r.advance(p.Name, pos)
			continue
		}
		r.logger.Info("building read model", "projector", p.Name, "version", p.Version)
		missing = append(missing, p)
	}
	if len(missing) == 0 {
		return nil
	}
	return r.rebuild(ctx, missing, false, nil)
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
	wg.Go(func() { r.followTail(ctx) })
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
	f := &follower{persisted: r.progress[p.Name].Load(), persistedAt: time.Now()}
	retry := 50 * time.Millisecond
	for ctx.Err() == nil {
		work := r.work[p.Name].C()
		caughtUp, err := r.step(ctx, p, f)
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
		if caughtUp {
			select {
			case <-ctx.Done():
				return
			case <-work: // the tail found events for p
			case <-time.After(r.PollInterval):
			}
		}
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// follower is what a projector's follow loop knows of its checkpoint.
type follower struct {
	persisted   int64     // the checkpoint, as last read or written
	persistedAt time.Time // when
}

// persistEvery bounds how long a projector's checkpoint may stay behind
// its progress over events it does not handle (see followTail): only a
// restart reads them again, but the fewer the better.
const persistEvery = 10 * time.Second

// persistDue reports whether the checkpoint should be moved to reached
// although there is no event to apply up to it.
func (f *follower) persistDue(reached int64) bool {
	return reached > f.persisted && time.Since(f.persistedAt) >= persistEvery
}

func (f *follower) persistedTo(position int64) {
	f.persisted, f.persistedAt = position, time.Now()
}

// step applies p's next events to its read model and moves p's checkpoint
// to where they end, in one transaction, and reports whether p has caught
// up. An advisory lock excludes p's runners in other processes, and the
// events are read after the checkpoint (or after p's progress, when the
// tail has moved it further): each event has its effect exactly once.
//
// Round trips: one to begin, lock, read the checkpoint and the events;
// those the projector's reads need; one for its writes, the checkpoint and
// the commit. The transaction holds a transaction id (and so holds back
// every gap-safe reader on the server) only from its first write on:
// usually the time the server takes to run that last round trip.
func (r *Runner) step(ctx context.Context, p Projector, f *follower) (caughtUp bool, err error) {
	conn, err := r.store.Pool().Acquire(ctx)
	if err != nil {
		return false, err
	}
	defer conn.Release()
	from := r.progress[p.Name].Load()
	read := eventstore.ReadOptions{Types: p.Types, Limit: batchSize}
	var checkpoint int64
	var version int
	var page eventstore.Page
	b := &pgx.Batch{}
	b.BeginTx(pgx.TxOptions{})
	b.Queue(`SELECT pg_advisory_xact_lock(hashtextextended('projection:' || $1, 0))`, p.Name)
	b.Queue(projectionSettings, searchPath(p.SchemaName()))
	b.Queue(`SELECT position, version FROM projection_checkpoints WHERE name = $1`, p.Name).
		QueryRow(func(row pgx.Row) error { return row.Scan(&checkpoint, &version) })
	// In the same round trip, each statement with its own snapshot: the
	// events are read after the lock is held.
	r.store.QueueReadPage(b, from, read, &page)
	br := conn.SendBatch(ctx, b)
	tx := br.Tx()
	defer func() {
		if conn.Conn().PgConn().TxStatus() != 'I' {
			_ = tx.Rollback(ctx) // a failed rollback closes the connection
		}
	}()
	if err := br.Close(); err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	if version != p.Version {
		return false, fmt.Errorf("read model %s was built by version %d, this is version %d: restart to rebuild it", p.Name, version, p.Version)
	}
	if checkpoint != f.persisted {
		f.persistedTo(checkpoint) // moved by another process
	}
	if checkpoint > from {
		// Another process applied events meanwhile: go on from there.
		from = checkpoint
		if page, err = r.store.ReadPage(ctx, tx, from, read); err != nil {
			return false, err
		}
	}
	caughtUp = len(page.Records) < batchSize
	reached := page.Next
	if len(page.Records) == 0 && !f.persistDue(reached) {
		// Nothing to write: the rollback ends the transaction.
		r.advance(p.Name, reached)
		return caughtUp, nil
	}
	pl := newPipeline(tx, p.Name)
	n, err := r.apply(ctx, pl, p, page.Records, time.Now().Add(maxBatchDuration))
	if err != nil {
		return false, err
	}
	if n < len(page.Records) {
		// Stopped early: the rest of the page comes next time.
		caughtUp, reached = false, page.Records[n-1].Position
	}
	pl.queueOwn("checkpoint", `UPDATE projection_checkpoints SET position = $2, updated_at = now() WHERE name = $1`, p.Name, reached)
	pl.queueOwn("commit", `COMMIT`)
	if err := pl.flush(ctx); err != nil {
		return false, err
	}
	if status := conn.Conn().PgConn().TxStatus(); status != 'I' {
		return false, fmt.Errorf("commit: the transaction is still open (status %q)", status)
	}
	f.persistedTo(reached)
	// Only once committed: a waiter may then read the read model.
	r.advance(p.Name, reached)
	r.applied.Notify()
	return caughtUp, nil
}

// maxBatchDuration bounds how long a batch's transaction applies events.
// Once it has written, the transaction holds a transaction id, and every
// gap-safe reader on the server (other projectors, bus subscribers, other
// processes) sees nothing newer until it commits: a long batch, a rebuild's
// above all, would stall them all.
const maxBatchDuration = 100 * time.Millisecond

// projectionSettings sets, for a projection transaction, the search path
// ($1) and asynchronous commit. A read model is derived from durable
// events and commits with its checkpoint: a crash can only lose its last
// instants of work, which the projector redoes from the checkpoint.
// Meanwhile, not waiting for the WAL flush shortens the time the
// transaction holds back every gap-safe reader on the server.
const projectionSettings = `SELECT set_config('search_path', $1, true), set_config('synchronous_commit', 'off', true)`

func searchPath(schema string) string { return pgx.Identifier{schema}.Sanitize() + ", public" }

// apply hands recs in order to p's Handle through pl, stopping after the
// first one applied past deadline (never, if deadline is zero), and
// returns how many it applied. Statements still queued in pl run when pl
// is flushed; an error names the event whose Handle failed or queued the
// failing statement. The transaction's search path leads to the read
// model's schema.
func (r *Runner) apply(ctx context.Context, pl *pipeline, p Projector, recs []eventstore.Record, deadline time.Time) (int, error) {
	if p.HandleBatch != nil {
		return r.applyBatches(ctx, pl, p, recs, deadline)
	}
	for i := range recs {
		pl.handling(&recs[i])
		err := p.Handle(ctx, pl, recs[i])
		if pl.failed != nil {
			// Whatever Handle made of it, a queued statement failed.
			return i, pl.failed
		}
		if err != nil {
			return i, eventError(p.Name, recs[i], err)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return i + 1, nil
		}
	}
	return len(recs), nil
}

// applyFlushed is apply through a pipeline of its own, flushed before it
// returns: for a transaction that sends nothing else with the writes.
func (r *Runner) applyFlushed(ctx context.Context, tx pgx.Tx, p Projector, recs []eventstore.Record, deadline time.Time) (int, error) {
	pl := newPipeline(tx, p.Name)
	n, err := r.apply(ctx, pl, p, recs, deadline)
	if err != nil {
		return n, err
	}
	return n, pl.flush(ctx)
}

// handleBatchSize is how many events HandleBatch gets at most: the
// deadline is checked between calls. A step's whole page goes in one
// call: with several, a call's reads (the audit chain reads the events
// it seals) would go to the server after the call before had written,
// and the transaction would hold its transaction id, and so hold back
// every gap-safe reader on the server, across those round trips.
const handleBatchSize = batchSize

// applyBatches is apply with p.HandleBatch.
func (r *Runner) applyBatches(ctx context.Context, pl *pipeline, p Projector, recs []eventstore.Record, deadline time.Time) (int, error) {
	for i := 0; i < len(recs); i += handleBatchSize {
		batch := recs[i:min(i+handleBatchSize, len(recs))]
		pl.handlingBatch(batch)
		err := p.HandleBatch(ctx, pl, batch)
		if pl.failed != nil {
			return i, pl.failed
		}
		if err != nil {
			return i, batchError(p.Name, batch, err)
		}
		if !deadline.IsZero() && time.Now().After(deadline) {
			return i + len(batch), nil
		}
	}
	return len(recs), nil
}

// advance records progress made by this process or seen in the checkpoint
// (the tail and the projector's own loop both move it: never backwards).
func (r *Runner) advance(name string, pos int64) {
	c := r.progress[name]
	for {
		cur := c.Load()
		if cur >= pos {
			return
		}
		if c.CompareAndSwap(cur, pos) {
			r.progressed.Notify()
			r.wake()
			return
		}
	}
}

// WaitFor waits until every read model but the background ones reflects
// the events up to position, so that a client reading right after its
// write sees it. It returns ctx's error if that takes too long.
func (r *Runner) WaitFor(ctx context.Context, position int64) error {
	return r.wait(ctx, &r.waiting, r.reachedAwaited, position)
}

// WaitForModel waits until the read model name reflects the events up to
// position: for a request that reads that one read model right after its
// own write. It returns ctx's error if that takes too long, and an error
// for an unknown name.
func (r *Runner) WaitForModel(ctx context.Context, name string, position int64) error {
	progress, ok := r.progress[name]
	if !ok {
		return fmt.Errorf("projections: no read model %q", name)
	}
	for {
		moved := r.progressed.C()
		if progress.Load() >= position {
			return nil
		}
		select {
		case <-moved:
		case <-ctx.Done():
			return fmt.Errorf("waiting for read model %s to reach %d: %w", name, position, ctx.Err())
		}
	}
}

// WaitForAll is WaitFor for every read model, the background ones too.
func (r *Runner) WaitForAll(ctx context.Context, position int64) error {
	return r.wait(ctx, &r.waitingAll, r.reachedAll, position)
}

func (r *Runner) wait(ctx context.Context, w *waiters, reached func() int64, position int64) error {
	if reached() >= position {
		return nil
	}
	done := w.add(position)
	r.wake() // progress may have moved since reached
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for read models to reach %d: %w", position, ctx.Err())
	}
}

// reachedAll is how far every read model has got.
func (r *Runner) reachedAll() int64 {
	least := int64(math.MaxInt64)
	for _, c := range r.progress {
		least = min(least, c.Load())
	}
	return least
}

// reachedMax is how far the most advanced read model has got.
func (r *Runner) reachedMax() int64 {
	var most int64
	for _, c := range r.progress {
		most = max(most, c.Load())
	}
	return most
}

// reachedAwaited is how far every read model WaitFor waits for has got.
func (r *Runner) reachedAwaited() int64 {
	least := int64(math.MaxInt64)
	for _, p := range r.projectors {
		if !p.Background {
			least = min(least, r.progress[p.Name].Load())
		}
	}
	return least
}

// wake releases the WaitFor and WaitForAll calls that the read models
// have reached.
func (r *Runner) wake() {
	r.waiting.release(r.reachedAwaited())
	r.waitingAll.release(r.reachedAll())
}

// waiters are the WaitFor calls in progress, by position, each woken once
// its position is reached: a broadcast at every batch would wake them all,
// again and again, which under load costs more than the batches.
type waiters struct {
	mu   sync.Mutex
	heap waiterHeap
}

type waiter struct {
	position int64
	done     chan struct{}
}

func (w *waiters) add(position int64) <-chan struct{} {
	done := make(chan struct{})
	w.mu.Lock()
	defer w.mu.Unlock()
	heap.Push(&w.heap, waiter{position, done})
	return done
}

// release wakes the waiters of positions up to reached (and forgets those
// whose WaitFor gave up meanwhile).
func (w *waiters) release(reached int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for len(w.heap) > 0 && w.heap[0].position <= reached {
		close(heap.Pop(&w.heap).(waiter).done)
	}
}

type waiterHeap []waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h[i].position < h[j].position }
func (h waiterHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waiterHeap) Push(x any)        { *h = append(*h, x.(waiter)) }
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	*h = old[:len(old)-1]
	return w
}

// Status is the state of one projector, for /readyz and metrics.
type Status struct {
	Name     string        `json:"name"`
	Position int64         `json:"position"`
	Lag      time.Duration `json:"-"`
	LagMS    int64         `json:"lag_ms"`
	Error    string        `json:"error,omitempty"`
}

// Statuses reports, for each projector, its position and its lag: the
// age of the oldest event it has not applied yet (0 when caught up). The
// position is its checkpoint or, when further, how far this runner knows
// its read model to be current (past events it does not handle, the
// checkpoint moves only now and then).
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
		if err == nil {
			s.Position = max(s.Position, r.progress[p.Name].Load())
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
