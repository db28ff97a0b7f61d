package eventstore

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// TopicAll is the bus topic carrying every event. "events.<Type>" carries
// only the events of one type.
const TopicAll = "events"

// Message metadata keys set on every bus message (besides the event's own
// metadata fields: actor, contract, correlation_id, ...).
const (
	MetaType     = "type"
	MetaStream   = "stream"
	MetaVersion  = "version"
	MetaPosition = "position"
	MetaTime     = "occurred_at"
)

// NewSubscriber returns a watermill subscriber that reads the events table
// itself (each event is written once, by Append: the bus needs no outbox
// copy) for one consumer group. Each group keeps its own offset, acked in
// the same transaction that the handler may use through BusTx, so a
// consumer resumes after a crash exactly where it stopped. Like ReadAll it
// is gap-safe, and it wakes on the store's change signal instead of polling.
func (s *Store) NewSubscriber(consumerGroup string, logger watermill.LoggerAdapter) (*Subscriber, error) {
	if consumerGroup == "" {
		return nil, errors.New("eventstore: a bus subscriber needs a consumer group")
	}
	backoff := &signalBackoff{changes: s.changes, pool: s.pool, idle: time.Second, retry: time.Second, settle: busSettle, closing: make(chan struct{})}
	sub, err := wsql.NewSubscriber(busBeginner{wsql.BeginnerFromPgx(s.pool)}, wsql.SubscriberConfig{
		ConsumerGroup:  consumerGroup,
		SchemaAdapter:  busSchema{},
		OffsetsAdapter: busOffsets{},
		PollInterval:   time.Second,
		ResendInterval: 100 * time.Millisecond,
		BackoffManager: backoff,
	}, logger)
	if err != nil {
		return nil, err
	}
	return &Subscriber{Subscriber: sub, backoff: backoff}, nil
}

// Subscriber is a watermill-sql subscriber on the events table.
type Subscriber struct {
	*wsql.Subscriber
	backoff   *signalBackoff
	closeOnce sync.Once
}

// Close stops the subscriber at once: an idle subscriber waiting for new
// events is woken instead of finishing its wait.
func (s *Subscriber) Close() error {
	s.closeOnce.Do(func() { close(s.backoff.closing) })
	return s.Subscriber.Close()
}

// BusTx returns the transaction in which a bus message is consumed; writes
// made in it commit together with the consumer group's offset, and are
// undone if the subscriber stops (Close, ack deadline) before the message
// is acked, so that the message, delivered again, has its effect once.
// A handler that nacks after writing must undo its writes itself (with a
// savepoint): the message is redelivered in the same transaction.
// ok is false outside a bus message, or when the transaction is unusable.
func BusTx(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return nil, false
	}
	bt, ok := tx.(*busTx)
	if !ok {
		return nil, false
	}
	// The savepoint is not cut short by the handler's context: a query
	// cancelled midway closes the connection under the subscriber's
	// transaction, which then can neither ack nor roll back cleanly.
	if err := bt.guardInFlight(context.WithoutCancel(ctx)); err != nil {
		return nil, false
	}
	return bt.Tx, true
}

// RecordFromMessage rebuilds the stored record carried by a bus message.
func RecordFromMessage(msg *message.Message) (Record, error) {
	var r Record
	id, err := parseUUID(msg.UUID)
	if err != nil {
		return r, err
	}
	r.EventID = id
	r.Type = msg.Metadata.Get(MetaType)
	r.StreamID = msg.Metadata.Get(MetaStream)
	if r.Version, err = strconv.ParseInt(msg.Metadata.Get(MetaVersion), 10, 64); err != nil {
		return r, fmt.Errorf("bus message %s: version: %w", msg.UUID, err)
	}
	if r.Position, err = strconv.ParseInt(msg.Metadata.Get(MetaPosition), 10, 64); err != nil {
		return r, fmt.Errorf("bus message %s: position: %w", msg.UUID, err)
	}
	if r.RecordedAt, err = time.Parse(time.RFC3339Nano, msg.Metadata.Get(MetaTime)); err != nil {
		return r, fmt.Errorf("bus message %s: time: %w", msg.UUID, err)
	}
	r.SchemaVersion, _ = strconv.Atoi(msg.Metadata.Get("schema_version"))
	r.Data = json.RawMessage(msg.Payload)
	r.Metadata = Metadata{
		Actor:         msg.Metadata.Get("actor"),
		ActorKind:     msg.Metadata.Get("actor_kind"),
		Contract:      msg.Metadata.Get("contract"),
		CorrelationID: msg.Metadata.Get("correlation_id"),
		CausationID:   msg.Metadata.Get("causation_id"),
		RequestID:     msg.Metadata.Get("request_id"),
		SourceIP:      msg.Metadata.Get("source_ip"),
	}
	return r, nil
}

// busSchema is a watermill-sql SchemaAdapter over the events table.
type busSchema struct{}

// busBatch is how many events one subscriber transaction reads and acks.
// Each message whose handler takes BusTx opens a savepoint (a
// subtransaction): beyond 64 writing subtransactions in one transaction,
// PostgreSQL's snapshots overflow their subtransaction cache and slow
// down server-wide, so a batch stays below that.
const busBatch = 50

func (busSchema) SchemaInitializingQueries(wsql.SchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil // the events table belongs to the migrations
}

func (busSchema) InsertQuery(wsql.InsertQueryParams) (wsql.Query, error) {
	return wsql.Query{}, errors.New("eventstore: events are published by appending them to the event store, not through the bus")
}

func (busSchema) SelectQuery(p wsql.SelectQueryParams) (wsql.Query, error) {
	next, err := p.OffsetsAdapter.NextOffsetQuery(wsql.NextOffsetQueryParams{Topic: p.Topic, ConsumerGroup: p.ConsumerGroup})
	if err != nil {
		return wsql.Query{}, err
	}
	typ, err := topicType(p.Topic)
	if err != nil {
		return wsql.Query{}, err
	}
	args := append(append([]any{}, next.Args...), typ)
	q := `
WITH last_processed AS (` + next.Query + `)
SELECT * FROM (
    SELECT ` + recordColumns + ` FROM events
    WHERE position > (SELECT offset_acked FROM last_processed)
      AND ($` + strconv.Itoa(len(args)) + `::text = '' OR event_type = $` + strconv.Itoa(len(args)) + `)
    ORDER BY position
    LIMIT ` + strconv.Itoa(busBatch) + `
) e WHERE position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20
ORDER BY position`
	return wsql.Query{Query: q, Args: args}, nil
}

func topicType(topic string) (string, error) {
	if topic == TopicAll {
		return "", nil
	}
	if t, ok := strings.CutPrefix(topic, TopicAll+"."); ok && t != "" {
		return t, nil
	}
	return "", fmt.Errorf("eventstore: unknown bus topic %q (use %q or %q)", topic, TopicAll, TopicAll+".<EventType>")
}

func (busSchema) UnmarshalMessage(p wsql.UnmarshalMessageParams) (wsql.Row, error) {
	var (
		pos, version int64
		id           [16]byte
		stream, typ  string
		sv           int32
		data, meta   []byte
		at           time.Time
	)
	if err := p.Row.Scan(&pos, &id, &stream, &version, &typ, &sv, &data, &meta, &at); err != nil {
		return wsql.Row{}, fmt.Errorf("eventstore: scan bus row: %w", err)
	}
	var md Metadata
	if err := json.Unmarshal(meta, &md); err != nil {
		return wsql.Row{}, fmt.Errorf("eventstore: metadata of %d: %w", pos, err)
	}
	uid := formatUUID(id)
	msg := message.NewMessage(uid, data)
	msg.Metadata = message.Metadata{
		MetaType:         typ,
		MetaStream:       stream,
		MetaVersion:      strconv.FormatInt(version, 10),
		MetaPosition:     strconv.FormatInt(pos, 10),
		MetaTime:         at.UTC().Format(time.RFC3339Nano),
		"schema_version": strconv.Itoa(int(sv)),
	}
	for k, v := range map[string]string{
		"actor": md.Actor, "actor_kind": md.ActorKind, "contract": md.Contract,
		"correlation_id": md.CorrelationID, "causation_id": md.CausationID,
		"request_id": md.RequestID, "source_ip": md.SourceIP,
	} {
		if v != "" {
			msg.Metadata.Set(k, v)
		}
	}
	return wsql.Row{Offset: pos, UUID: []byte(uid), Payload: data, Metadata: meta, Msg: msg}, nil
}

// SubscribeIsolationLevel is READ COMMITTED: the batch's select runs
// after busTx has taken the group's lock, in a snapshot of its own that
// sees the offset the previous holder committed.
func (busSchema) SubscribeIsolationLevel() stdsql.IsolationLevel {
	return stdsql.LevelReadCommitted
}

// busOffsets keeps each consumer group's last acked position in bus_offsets.
type busOffsets struct{}

func (busOffsets) SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil
}

func (busOffsets) NextOffsetQuery(p wsql.NextOffsetQueryParams) (wsql.Query, error) {
	return wsql.Query{
		Query: `SELECT offset_acked FROM bus_offsets WHERE topic = $1 AND consumer_group = $2`,
		Args:  []any{p.Topic, p.ConsumerGroup},
	}, nil
}

const ackSQL = `UPDATE bus_offsets SET offset_acked = $3 WHERE topic = $1 AND consumer_group = $2`

func (busOffsets) AckMessageQuery(p wsql.AckMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{Query: ackSQL, Args: []any{p.Topic, p.ConsumerGroup, p.LastRow.Offset}}, nil
}

// handedOutMarker is the "consumed message query" that watermill runs in
// the batch's transaction just before handing each message to the
// consumer: busTx takes note of the message and sends nothing.
const handedOutMarker = "-- eventstore: message handed to its consumer"

func (busOffsets) ConsumedMessageQuery(p wsql.ConsumedMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{Query: handedOutMarker, Args: []any{p.Row.Offset}}, nil
}

func (busOffsets) BeforeSubscribingQueries(p wsql.BeforeSubscribingQueriesParams) ([]wsql.Query, error) {
	// The group's offset row, for the first ack to update.
	return []wsql.Query{{
		Query: `INSERT INTO bus_offsets (topic, consumer_group, offset_acked) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`,
		Args:  []any{p.Topic, p.ConsumerGroup},
	}}, nil
}

// signalBackoff makes an idle subscriber wait for the store's change
// signal (at most idle) instead of sleeping a fixed poll interval.
type signalBackoff struct {
	changes *Signal
	pool    *pgxpool.Pool
	idle    time.Duration
	retry   time.Duration
	settle  time.Duration // busSettle
	// closing is closed by Subscriber.Close: stop waiting, and make the
	// subscriber's loop see its own closing before querying again.
	closing chan struct{}

	mu sync.Mutex
	// armed is the change signal's channel taken before the next query:
	// a commit after that query's snapshot has closed it, so waiting on it
	// loses no wake-up.
	armed <-chan struct{}
	// heldBackWait is the next wait while committed events are held back
	// behind an older transaction (another group's batch, say), whose end
	// may signal nothing: look again 1, 2, 4 ... 50 ms later.
	heldBackWait time.Duration
}

const maxHeldBackWait = 50 * time.Millisecond

// busSettle is how long an idle subscriber woken by a commit waits before
// it reads. Each read is a transaction of several round trips, and each
// batch another for its ack: woken by every commit, the server's groups
// (reactions, notifier) read once per command, on the cores the next
// command needs, and one client's orders took 4.4-5.3 ms (p50) where they
// took 3.2-3.5 ms without those groups running. Settling first lets the
// commits of a burst go in one batch: 3.8-4.5 ms. Nothing waits on a bus
// group within milliseconds (mails, reactions); a group that is busy
// reads on without settling.
const busSettle = 20 * time.Millisecond

func (b *signalBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "deadlock") {
			return 10 * time.Millisecond // a handler's writes against another's: try again
		}
		logger.Error("bus subscriber query failed", err, watermill.LogFields{"retry_in": b.retry})
		return b.retry
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	wait := time.Duration(0)
	switch {
	case !noMsg:
		b.heldBackWait = 0
	case b.heldBack(logger):
		wait = max(b.heldBackWait, time.Millisecond)
		b.heldBackWait = min(wait*2, maxHeldBackWait)
	default:
		b.heldBackWait = 0
		armed := b.armed
		if armed == nil {
			armed = b.changes.C()
		}
		b.mu.Unlock()
		select {
		case <-armed:
			// Woken by a commit: let the commits right behind it come
			// too, and read them all in one transaction.
			select {
			case <-time.After(b.settle):
			case <-b.closing:
			}
		case <-time.After(b.idle):
		case <-b.closing:
		}
		b.mu.Lock()
	}
	select {
	case <-b.closing:
		// Watermill's loop then chooses between this long pause and its own
		// closing channel: it closes.
		return time.Hour
	default:
	}
	b.armed = b.changes.C()
	return wait
}

// heldBack reports whether committed events wait behind an older
// transaction still in flight (events of any type: a subscriber of one
// type may look again for nothing, which is cheap).
func (b *signalBackoff) heldBack(logger watermill.LoggerAdapter) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var held bool
	err := b.pool.QueryRow(ctx, `
SELECT coalesce((SELECT max(position) FROM events), 0) >= pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20`).Scan(&held)
	if err != nil {
		logger.Error("bus subscriber: look for held back events", err, nil)
		return false
	}
	return held
}

// busBeginner begins the subscriber's transactions as busTx.
type busBeginner struct{ wsql.Beginner }

func (b busBeginner) BeginTx(ctx context.Context, opts *stdsql.TxOptions) (wsql.Tx, error) {
	tx, err := b.Beginner.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	ptx, ok := tx.(*wsql.PgxTx)
	if !ok {
		_ = tx.Rollback()
		return nil, fmt.Errorf("eventstore: unexpected bus transaction type %T", tx)
	}
	return &busTx{PgxTx: ptx}, nil
}

// busTx is the transaction in which a subscriber reads a batch of events,
// hands them one by one to the consumer and acks those acked. When the
// consumer stops before acking the message it holds, watermill acks the
// earlier ones and commits: busTx first undoes what the consumer wrote
// for the unacked message (back to the savepoint BusTx took before its
// writes), or rolls everything back when nothing was acked.
type busTx struct {
	*wsql.PgxTx

	mu        sync.Mutex
	inFlight  int64 // position of the message handed out and not acked yet; 0: none
	savepoint bool  // BusTx took a savepoint before the in-flight message's writes
	released  bool  // a savepoint of an earlier message is still open
	locked    bool  // the consumer group's lock is taken
}

const busSavepoint = "bus_message"

// QueryContext runs the batch's select (the only query watermill makes)
// once the transaction holds the consumer group's lock, so that members of
// a group take batches in turn and each reads the offset the previous one
// acked. An advisory lock, not a row lock (SELECT ... FOR UPDATE) on the
// offset: a row lock takes a transaction id, which the batch would hold
// while its consumer handles the messages, and every gap-safe reader on
// the server (projections, other groups) would wait behind it, for as long
// as a slow or stuck consumer (up to the ack deadline) takes.
func (t *busTx) QueryContext(ctx context.Context, query string, args ...any) (wsql.Rows, error) {
	t.mu.Lock()
	locked := t.locked
	t.locked = true
	t.mu.Unlock()
	if !locked && len(args) >= 2 {
		// In the same statement, asynchronous commit: what a consumer
		// writes commits with the offset it acks, so a crash that loses
		// the last instants of commits loses both, and the messages are
		// handed out again (at least once, as always). Meanwhile the
		// batch's commit does not wait for a WAL flush.
		if _, err := t.Tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('bus:' || $1 || ':' || $2, 0)), set_config('synchronous_commit', 'off', true)`, args[0], args[1]); err != nil {
			return nil, fmt.Errorf("eventstore: lock the consumer group: %w", err)
		}
	}
	return t.PgxTx.QueryContext(ctx, query, args...)
}

func (t *busTx) ExecContext(ctx context.Context, query string, args ...any) (wsql.Result, error) {
	switch query {
	case handedOutMarker:
		pos, _ := args[0].(int64)
		t.mu.Lock()
		t.inFlight = pos
		t.savepoint = false
		t.mu.Unlock()
		return wsql.PgxResult{}, nil
	case ackSQL:
		acked, _ := args[2].(int64)
		if err := t.undoUnacked(ctx, acked); err != nil {
			return nil, err
		}
	}
	return t.PgxTx.ExecContext(ctx, query, args...)
}

// guardInFlight takes a savepoint before the in-flight message's first
// writes, so that they can be undone alone.
func (t *busTx) guardInFlight(ctx context.Context) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.inFlight == 0 || t.savepoint {
		return nil
	}
	sql := "SAVEPOINT " + busSavepoint
	if t.released {
		// One round trip (no arguments: simple protocol); keeps a single
		// level of savepoint however long the batch.
		sql = "RELEASE SAVEPOINT " + busSavepoint + "; " + sql
	}
	if _, err := t.Tx.Exec(ctx, sql); err != nil {
		return fmt.Errorf("eventstore: savepoint for a bus message: %w", err)
	}
	t.savepoint, t.released = true, true
	return nil
}

// undoUnacked undoes the writes of a message handed out but not covered
// by the ack up to position acked.
func (t *busTx) undoUnacked(ctx context.Context, acked int64) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	unacked := t.inFlight > acked && t.savepoint
	t.inFlight, t.savepoint = 0, false
	if !unacked {
		return nil
	}
	if _, err := t.Tx.Exec(ctx, "ROLLBACK TO SAVEPOINT "+busSavepoint); err != nil {
		return fmt.Errorf("eventstore: undo the writes of an unacked bus message: %w", err)
	}
	return nil
}

// Commit commits, unless no message of the batch was acked (the consumer
// stopped holding the first one): then nothing of it may stay.
func (t *busTx) Commit() error {
	t.mu.Lock()
	unacked := t.inFlight != 0
	t.mu.Unlock()
	if unacked {
		return t.PgxTx.Rollback()
	}
	return t.PgxTx.Commit()
}
