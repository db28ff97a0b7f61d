package eventstore

import (
	"context"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"
)

// Group commit of single-event appends.
//
// Appends beyond the slots (SetAppendConcurrency) wait in the process.
// Single-event appends waiting together go to the database together: the
// first of them to get a slot takes every waiting one (on distinct
// streams) and appends them all in one statement, its own transaction,
// with one version check per stream. Each waiting append thus costs a
// share of one round trip, one transaction id and one WAL flush instead
// of a whole one each, and the gap-safe readers wait for fewer
// transactions. An append that finds a slot free goes alone, as before:
// grouping only ever replaces waiting.
//
// Every append keeps its own outcome. A grouped append whose stream is not
// at its expected version is left out of the group's insert and goes on
// alone, where it fails (or, a retry of events already stored, succeeds)
// exactly as it would have on its own. When the group's statement fails as
// a whole (an event id stored already, a concurrent writer on one of the
// streams, a document PostgreSQL refuses), nothing of it is stored and
// each of its appends goes on alone, to its own outcome.

// maxGroup bounds the appends of one group statement.
const maxGroup = 128

// groupAppend is a single-event append waiting for a slot, maybe to go
// in a group.
type groupAppend struct {
	args     appendArgs
	expected Expectation
	// taken is closed when a group takes this append; done then receives
	// the group's outcome for it, once.
	taken chan struct{}
	done  chan groupOutcome
}

// groupOutcome is what a group did with one of its appends: stored it at
// res, or not (alone: the append goes on by itself).
type groupOutcome struct {
	res    AppendResult
	stored bool
}

// appendQueue holds the single-event appends waiting for a slot.
type appendQueue struct {
	mu      sync.Mutex
	waiting []*groupAppend
}

func (q *appendQueue) push(g *groupAppend) {
	q.mu.Lock()
	q.waiting = append(q.waiting, g)
	q.mu.Unlock()
}

// remove takes g out of the queue and reports whether it was still there
// (not taken by a group).
func (q *appendQueue) remove(g *groupAppend) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	i := slices.Index(q.waiting, g)
	if i < 0 {
		return false
	}
	q.waiting = slices.Delete(q.waiting, i, i+1)
	return true
}

// take removes and returns up to maxGroup waiting appends, the first one
// of each stream in the order they came; later appends to the same
// streams stay for the next group (one statement cannot check a stream's
// version twice).
func (q *appendQueue) take() []*groupAppend {
	q.mu.Lock()
	defer q.mu.Unlock()
	var group, rest []*groupAppend
	streams := make(map[string]bool, len(q.waiting))
	for _, g := range q.waiting {
		if len(group) < maxGroup && !streams[g.args.stream] {
			streams[g.args.stream] = true
			group = append(group, g)
			close(g.taken)
		} else {
			rest = append(rest, g)
		}
	}
	q.waiting = rest
	return group
}

// len is how many appends wait (for tests).
func (q *appendQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.waiting)
}

// appendOne appends a single validated event: alone when a slot is free,
// else with the other single-event appends waiting when a slot frees.
func (s *Store) appendOne(ctx context.Context, a appendArgs, expected Expectation) (AppendResult, bool, error) {
	select {
	case s.admit <- struct{}{}:
		return s.alone(ctx, a, expected)
	default:
	}
	g := &groupAppend{args: a, expected: expected, taken: make(chan struct{}), done: make(chan groupOutcome, 1)}
	s.queue.push(g)
	for {
		select {
		case <-g.taken:
			// In a group's statement: wait for its outcome, without taking
			// a slot to lead another group (its caller would wait for both).
			return s.settle(ctx, g, <-g.done)
		case s.admit <- struct{}{}:
			// A slot: lead a group of whatever waits, this append first
			// among its stream's.
			select {
			case <-g.taken:
				s.release()
				return s.settle(ctx, g, <-g.done)
			default:
			}
			group := s.queue.take()
			if len(group) > 0 {
				s.insertGroup(ctx, group)
			}
			s.release()
			// Unless it was left for a later group (its stream was in
			// this one already, or the group was full), its outcome is in.
		case <-ctx.Done():
			if s.queue.remove(g) {
				return AppendResult{}, false, ctx.Err()
			}
			// In a group's statement already: it may be stored, so wait
			// for the outcome rather than guess.
			return s.settle(ctx, g, <-g.done)
		}
	}
}

// settle returns a grouped append's outcome; an append the group did not
// store goes on alone.
func (s *Store) settle(ctx context.Context, g *groupAppend, out groupOutcome) (AppendResult, bool, error) {
	if out.stored {
		return out.res, true, nil
	}
	return s.admittedAlone(ctx, g.args, g.expected)
}

// groupSQL appends one event to each of several streams, each checked
// against its own expected version ($7, negative for Any), in one
// statement: the events whose stream is not at its expected version are
// left out. Rows go in the order of the arrays (sorted by stream, so
// that two groups wait on each other's index entries in one order, never
// in a circle), at consecutive positions from the transaction's base.
const groupSQL = `
WITH t AS (
    SELECT * FROM unnest($1::text[], $2::uuid[], $3::text[], $4::int[], $5::text[], $6::text[], $7::bigint[])
        WITH ORDINALITY AS t(stream, id, typ, sv, data, meta, expected, ord)
), ok AS (
    SELECT t.*, cur.v FROM t CROSS JOIN LATERAL (
        SELECT coalesce(max(stream_version), 0) AS v FROM events WHERE stream_id = t.stream
    ) cur
    WHERE t.expected < 0 OR cur.v = t.expected
), base AS (
    SELECT pg_current_xact_id()::text::bigint << 20 AS b
)
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT base.b + row_number() OVER (ORDER BY ok.ord) - 1, ok.id, ok.stream, ok.v + 1, ok.typ, ok.sv, ok.data::jsonb, ok.meta::jsonb, $8
FROM ok, base
ORDER BY ok.ord
RETURNING event_id, position, stream_version`

// insertGroup appends group in one statement, in the slot the caller
// holds, and hands each append its outcome. The statement runs to its
// end whatever happens to the leader's context: it carries other
// callers' appends, and each of them is bounded by its own context only
// while it waits.
func (s *Store) insertGroup(ctx context.Context, group []*groupAppend) {
	slices.SortFunc(group, func(a, b *groupAppend) int { return strings.Compare(a.args.stream, b.args.stream) })
	n := len(group)
	streams, ids, types := make([]string, n), make([]uuid.UUID, n), make([]string, n)
	versions, data, metas, expected := make([]int32, n), make([]string, n), make([]string, n), make([]int64, n)
	for i, g := range group {
		streams[i], ids[i], types[i] = g.args.stream, g.args.ids[0], g.args.types[0]
		versions[i], data[i], metas[i], expected[i] = g.args.versions[0], g.args.data[0], g.args.metas[0], int64(g.expected)
	}
	stored := make(map[uuid.UUID]AppendResult, n)
	rows, err := s.pool.Query(context.WithoutCancel(ctx), groupSQL, streams, wireIDs(ids), types, versions, data, metas, expected, s.clock.Now())
	if err == nil {
		for rows.Next() {
			var id uuid.UUID
			var pos, version int64
			if err = rows.Scan(&id, &pos, &version); err != nil {
				break
			}
			stored[id] = AppendResult{Version: version, Positions: []int64{pos}}
		}
		rows.Close()
		if err == nil {
			err = rows.Err()
		}
	}
	for _, g := range group {
		res, ok := stored[g.args.ids[0]]
		// When the statement failed, nothing of it is stored (or, lost
		// after its commit, all of it: each append alone then finds its
		// event stored and returns where it is).
		g.done <- groupOutcome{res: res, stored: ok && err == nil}
	}
}
