package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"selfcare/eventstore"
)

// Default is the list of measurements `selfcare bench` runs.
func Default() []Measurement {
	// Orders first: the server it starts builds its read models from every
	// event in the database, and after the append measurements (hundreds
	// of thousands of events) that took it minutes. The lag of every read
	// model next, for the same reason: the audit hash chain seals every
	// event.
	ms := []Measurement{OrdersOverHTTP(8), OrdersOverHTTP(1), ListVersusBare(8), ProjectionLagOfAllReadModels(8), ProjectionLagOfAllReadModels(32), ProjectorCapacity(32), MailDelivery(3000)}
	for _, batch := range []int{1, 100} {
		for _, writers := range []int{1, 8, 32} {
			ms = append(ms, AppendVersusInsert(writers, batch))
		}
	}
	// The lag with writers at full speed, and at a pace a single projector
	// making one round trip per event follows without queueing.
	ms = append(ms, ProjectionLag(8, 0), ProjectionLag(32, 0), ProjectionLag(8, 10*time.Millisecond), FeedThroughput(1000))
	// The event stream on NATS JetStream needs a nats-server to measure.
	if NATSServerBinary() != "" {
		ms = append(ms, NATSForwarding(10_000))
	}
	return ms
}

// The rows both sides write: a typical selfcare event, ~230 bytes of data
// and ~170 of metadata.
var (
	eventData = json.RawMessage(`{"contract": "C-000123", "login": "jdoe@example.com", "roles": ["admin", "billing", "support"], ` +
		`"previous_roles": ["billing"], "note": "quarterly review of console access for the customer team"}`)
	eventMetadata = eventstore.Metadata{
		Actor: "referent@example.com", ActorKind: "user", Contract: "C-000123",
		CorrelationID: "5b0e6a8e-4cf1-4f8a-9a7e-2f6a1c9d3b10", RequestID: "req-01HZX4K7Q2", SourceIP: "203.0.113.7",
	}
	eventMetadataJSON = func() string {
		b, err := json.Marshal(eventMetadata)
		if err != nil {
			panic(err)
		}
		return string(b)
	}()
)

const streamsPerWriter = 100

// AppendVersusInsert measures events/s of Store.Append with batch events
// per append (one transaction each) by writers concurrent writers, beside
// autocommit INSERTs of the same rows (batch rows per statement) into a
// table shaped and indexed like events, without its trigger.
func AppendVersusInsert(writers, batch int) Measurement {
	what := "1 event"
	if batch > 1 {
		what = fmt.Sprintf("%d events", batch)
	}
	name := fmt.Sprintf("append %s, %d writer", what, writers)
	if writers > 1 {
		name += "s"
	}
	return Measurement{Name: name, Run: func(ctx context.Context, env *Env) ([]Result, error) {
		if _, err := env.Pool.Exec(ctx, `CREATE TABLE IF NOT EXISTS bench_raw_events (LIKE events INCLUDING ALL)`); err != nil {
			return nil, err
		}
		run := fmt.Sprintf("%d-%d-%d", writers, batch, time.Now().UnixNano())
		raws, stores := make([]op, writers), make([]op, writers)
		for w := range writers {
			raws[w], stores[w] = rawInserter(env, run, w, batch), storeAppender(env, run, w, batch)
		}
		// In many short alternating slices, so that a machine whose load
		// drifts (a checkpoint, a busy neighbour) weighs on both alike.
		checkpoint(ctx, env)
		rounds := max(2, int(env.Duration/slice))
		var raw, store float64
		for i := range rounds {
			warm := settle
			if i == 0 {
				warm = warmUp
			}
			first, second := &raw, &store
			firstOps, secondOps := raws, stores
			if i%2 == 1 {
				first, second, firstOps, secondOps = second, first, secondOps, firstOps
			}
			r, err := rate(ctx, firstOps, warm, env.Duration/time.Duration(rounds))
			if err != nil {
				return nil, err
			}
			*first += r / float64(rounds)
			if r, err = rate(ctx, secondOps, warm, env.Duration/time.Duration(rounds)); err != nil {
				return nil, err
			}
			*second += r / float64(rounds)
		}
		return []Result{{Name: name, Unit: "events/s", Value: store, Baseline: raw, Target: MinRatio(0.8)}}, nil
	}}
}

// slice is about how long each side runs before the other takes over.
const slice = 250 * time.Millisecond

// op does one unit of work and says how many events it wrote.
type op func(ctx context.Context) (int, error)

func storeAppender(env *Env, run string, writer, batch int) op {
	versions := make([]int64, streamsPerWriter)
	i := 0
	return func(ctx context.Context) (int, error) {
		k := i % streamsPerWriter
		i++
		events := make([]eventstore.Event, batch)
		for j := range events {
			events[j] = eventstore.Event{ID: uuid.New(), Type: "BenchEvent", Data: eventData, Metadata: eventMetadata}
		}
		stream := fmt.Sprintf("bench-%s-w%d-s%d", run, writer, k)
		res, err := env.Store.Append(ctx, stream, eventstore.Exactly(versions[k]), events...)
		if err != nil {
			return 0, err
		}
		versions[k] = res.Version
		return batch, nil
	}
}

// rawPositions hands out distinct positions to the raw inserts, as the
// event store's positions are distinct.
var rawPositions atomic.Int64

func rawInserter(env *Env, run string, writer, batch int) op {
	versions := make([]int64, streamsPerWriter)
	i := 0
	positions := make([]int64, batch)
	ids := make([]uuid.UUID, batch)
	streams := make([]string, batch)
	streamVersions := make([]int64, batch)
	types := make([]string, batch)
	schemaVersions := make([]int32, batch)
	data := make([]string, batch)
	metas := make([]string, batch)
	times := make([]time.Time, batch)
	for j := range batch {
		types[j], schemaVersions[j], data[j], metas[j] = "BenchEvent", 1, string(eventData), eventMetadataJSON
	}
	return func(ctx context.Context) (int, error) {
		k := i % streamsPerWriter
		i++
		stream := fmt.Sprintf("raw-%s-w%d-s%d", run, writer, k)
		now := time.Now()
		if batch == 1 {
			versions[k]++
			_, err := env.Pool.Exec(ctx, `
INSERT INTO bench_raw_events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9)`,
				rawPositions.Add(1), uuid.New(), stream, versions[k], types[0], schemaVersions[0], data[0], metas[0], now)
			return 1, err
		}
		for j := range batch {
			versions[k]++
			positions[j], ids[j], streams[j], streamVersions[j], times[j] = rawPositions.Add(1), uuid.New(), stream, versions[k], now
		}
		_, err := env.Pool.Exec(ctx, `
INSERT INTO bench_raw_events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT p, id, s, v, t, sv, d::jsonb, m::jsonb, at
FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[], $5::text[], $6::int[], $7::text[], $8::text[], $9::timestamptz[])
     AS u(p, id, s, v, t, sv, d, m, at)`,
			positions, ids, streams, streamVersions, types, schemaVersions, data, metas, times)
		return batch, err
	}
}

// warmUp is how long writers first run before a measured window:
// connections opened, statements prepared. Later slices only settle.
const (
	warmUp = 300 * time.Millisecond
	settle = 30 * time.Millisecond
)

// rate runs ops, one loop each, concurrently, and returns the events per
// second they wrote during window, after warm.
func rate(ctx context.Context, ops []op, warm, window time.Duration) (float64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now().Add(warm)
	end := start.Add(window)
	var events atomic.Int64
	// late is when the window closed on its first completion, when no op
	// completed within it (each took longer than the window, on a loaded
	// machine): the rate is then over that longer window, not zero.
	var late atomic.Int64
	var wg sync.WaitGroup
	var firstErr error
	var once sync.Once
	for _, o := range ops {
		wg.Go(func() {
			for {
				n, err := o(ctx)
				now := time.Now()
				if err != nil {
					if ctx.Err() == nil {
						once.Do(func() { firstErr = err })
						cancel()
					}
					return
				}
				if now.After(end) {
					if events.CompareAndSwap(0, int64(n)) {
						late.Store(int64(now.Sub(start)))
					}
					return
				}
				if now.After(start) {
					events.Add(int64(n))
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, firstErr
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return float64(events.Load()) / max(window, time.Duration(late.Load())).Seconds(), nil
}

// checkpoint asks for a checkpoint, so that one does not fall in the
// middle of a measurement more often than by chance. It needs rights the
// bench's role may lack: then it does nothing.
func checkpoint(ctx context.Context, env *Env) {
	if _, err := env.Pool.Exec(ctx, `CHECKPOINT`); err != nil {
		env.Logger.Debug("bench: no CHECKPOINT before a measurement", "err", err)
	}
}
