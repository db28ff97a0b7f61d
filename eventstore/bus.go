package eventstore

import (
	"context"
	stdsql "database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/jackc/pgx/v5"
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
func (s *Store) NewSubscriber(consumerGroup string, logger watermill.LoggerAdapter) (*wsql.Subscriber, error) {
	if consumerGroup == "" {
		return nil, errors.New("eventstore: a bus subscriber needs a consumer group")
	}
	return wsql.NewSubscriber(wsql.BeginnerFromPgx(s.pool), wsql.SubscriberConfig{
		ConsumerGroup:  consumerGroup,
		SchemaAdapter:  busSchema{},
		OffsetsAdapter: busOffsets{},
		PollInterval:   time.Second,
		ResendInterval: 100 * time.Millisecond,
		BackoffManager: &signalBackoff{changes: s.changes, idle: time.Second, retry: time.Second},
	}, logger)
}

// BusTx returns the transaction in which a bus message is consumed; writes
// made in it commit together with the consumer group's offset.
func BusTx(ctx context.Context) (pgx.Tx, bool) {
	tx, ok := wsql.TxFromContext(ctx)
	if !ok {
		return nil, false
	}
	ptx, ok := tx.(*wsql.PgxTx)
	if !ok {
		return nil, false
	}
	return ptx.Tx, true
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

const busBatch = 100

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
SELECT ` + recordColumns + ` FROM events
WHERE position > (SELECT offset_acked FROM last_processed)
  AND position < pg_snapshot_xmin(pg_current_snapshot())::text::bigint << 20
  AND ($` + strconv.Itoa(len(args)) + `::text = '' OR event_type = $` + strconv.Itoa(len(args)) + `)
ORDER BY position
LIMIT ` + strconv.Itoa(busBatch)
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

func (busSchema) SubscribeIsolationLevel() stdsql.IsolationLevel {
	return stdsql.LevelRepeatableRead
}

// busOffsets keeps each consumer group's last acked position in bus_offsets.
type busOffsets struct{}

func (busOffsets) SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams) ([]wsql.Query, error) {
	return nil, nil
}

func (busOffsets) NextOffsetQuery(p wsql.NextOffsetQueryParams) (wsql.Query, error) {
	return wsql.Query{
		Query: `SELECT offset_acked FROM bus_offsets WHERE topic = $1 AND consumer_group = $2 FOR UPDATE`,
		Args:  []any{p.Topic, p.ConsumerGroup},
	}, nil
}

func (busOffsets) AckMessageQuery(p wsql.AckMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{
		Query: `UPDATE bus_offsets SET offset_acked = $3 WHERE topic = $1 AND consumer_group = $2`,
		Args:  []any{p.Topic, p.ConsumerGroup, p.LastRow.Offset},
	}, nil
}

func (busOffsets) ConsumedMessageQuery(wsql.ConsumedMessageQueryParams) (wsql.Query, error) {
	return wsql.Query{}, nil
}

func (busOffsets) BeforeSubscribingQueries(p wsql.BeforeSubscribingQueriesParams) ([]wsql.Query, error) {
	// A row to lock (FOR UPDATE) even before the first ack: without it two
	// subscribers of one group could both read from the start.
	return []wsql.Query{{
		Query: `INSERT INTO bus_offsets (topic, consumer_group, offset_acked) VALUES ($1, $2, 0) ON CONFLICT DO NOTHING`,
		Args:  []any{p.Topic, p.ConsumerGroup},
	}}, nil
}

// signalBackoff makes an idle subscriber wait for the store's change
// signal (at most idle) instead of sleeping a fixed poll interval.
type signalBackoff struct {
	changes *Signal
	idle    time.Duration
	retry   time.Duration
}

func (b *signalBackoff) HandleError(logger watermill.LoggerAdapter, noMsg bool, err error) time.Duration {
	if err != nil {
		if strings.Contains(strings.ToLower(err.Error()), "concurrent update") ||
			strings.Contains(strings.ToLower(err.Error()), "deadlock") {
			return 10 * time.Millisecond // another member of the group won this batch
		}
		logger.Error("bus subscriber query failed", err, watermill.LogFields{"retry_in": b.retry})
		return b.retry
	}
	if !noMsg {
		return 0
	}
	select {
	case <-b.changes.C():
	case <-time.After(b.idle):
	}
	return 0
}
