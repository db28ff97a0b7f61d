package projections_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
	"selfcare/projections"
)

// step is what the test projector does for one event; an event's data
// lists its steps.
type step struct {
	// Note appends "<event's stream version><Note>" to the event's row
	// with a queued Exec (after inserting the row, on the first step).
	Note string `json:"note,omitempty"`
	// Poison queues a statement that fails (a CHECK violation).
	Poison bool `json:"poison,omitempty"`
	// Read reads, with a Query after the queued Execs, how many rows and
	// notes the read model holds, and fails unless they are Rows and Notes.
	Read  bool `json:"read,omitempty"`
	Rows  int  `json:"rows,omitempty"`
	Notes int  `json:"notes,omitempty"`
	// RowsAffected appends "+" to the notes of the stream's rows so far
	// with ExecNow, and fails unless its command tag counts them.
	RowsAffected bool `json:"rows_affected,omitempty"`
}

// scripted is a projector whose events say what it does: it writes one
// row per event (stream version, notes), then follows the event's steps.
// Its log table records, through a sequence, in which order the server
// ran the notes' statements.
func scripted() projections.Projector {
	return projections.Projector{
		Name:    "scripted",
		Version: 1,
		Schema: `
CREATE TABLE rows (
    stream text NOT NULL, version bigint NOT NULL, notes text NOT NULL DEFAULT '',
    PRIMARY KEY (stream, version), CHECK (notes NOT LIKE '%poison%'));
CREATE SEQUENCE log_seq;
CREATE TABLE log (seq bigint PRIMARY KEY DEFAULT nextval('log_seq'), note text NOT NULL);`,
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			var steps []step
			if err := json.Unmarshal(rec.Data, &steps); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, `INSERT INTO rows (stream, version) VALUES ($1, $2)`, rec.StreamID, rec.Version)
			if err != nil {
				return err
			}
			if tag.RowsAffected() != 0 {
				return fmt.Errorf("a queued Exec returned a command tag (%q)", tag)
			}
			for _, s := range steps {
				note := fmt.Sprintf("%d%s", rec.Version, s.Note)
				if s.Poison {
					note = "poison"
				}
				if s.Note != "" || s.Poison {
					if _, err := tx.Exec(ctx, `UPDATE rows SET notes = notes || $3 WHERE stream = $1 AND version = $2`, rec.StreamID, rec.Version, note); err != nil {
						return err
					}
					if _, err := tx.Exec(ctx, `INSERT INTO log (note) VALUES ($1)`, note); err != nil {
						return err
					}
				}
				if s.Read {
					var rows, notes int
					err := tx.QueryRow(ctx, `SELECT count(*), (SELECT count(*) FROM log) FROM rows`).Scan(&rows, &notes)
					if err != nil {
						return fmt.Errorf("read: %w", err)
					}
					if rows != s.Rows || notes != s.Notes {
						return fmt.Errorf("read %d rows and %d notes, want %d and %d", rows, notes, s.Rows, s.Notes)
					}
				}
				if s.RowsAffected {
					// Every row so far gets a note: as many as there are.
					tag, err := projections.ExecNow(ctx, tx, `UPDATE rows SET notes = notes || '+' WHERE stream = $1 AND version <= $2`, rec.StreamID, rec.Version)
					if err != nil {
						return err
					}
					if tag.RowsAffected() != rec.Version {
						return fmt.Errorf("ExecNow: %d rows affected, want %d", tag.RowsAffected(), rec.Version)
					}
				}
			}
			return nil
		},
	}
}

// appendScript appends one event per element of script to one stream, in
// one transaction, so that the runner applies them in one batch.
func appendScript(ctx context.Context, t *testing.T, s *eventstore.Store, stream string, script ...[]step) eventstore.AppendResult {
	t.Helper()
	events := make([]eventstore.Event, len(script))
	for i, steps := range script {
		data, err := json.Marshal(steps)
		if err != nil {
			t.Fatal(err)
		}
		events[i] = eventstore.Event{ID: uuid.New(), Type: "Scripted", Data: data}
	}
	res, err := s.Append(ctx, stream, eventstore.Any, events...)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func startScripted(ctx context.Context, t *testing.T, s *eventstore.Store) *projections.Runner {
	t.Helper()
	r := projections.NewRunner(s, testLogger(t), scripted())
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	return r
}

func notesAndLog(ctx context.Context, t *testing.T, s *eventstore.Store) (notes, log []string) {
	t.Helper()
	rows, err := s.Pool().Query(ctx, `SELECT notes FROM rm_scripted.rows ORDER BY stream, version`)
	if err != nil {
		t.Fatal(err)
	}
	if notes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	rows, err = s.Pool().Query(ctx, `SELECT note FROM rm_scripted.log ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	if log, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	return notes, log
}

// A Handle's queued statements run in the order it issued them, event
// after event; a Query sees the effects of the statements queued before
// it; ExecNow returns the true command tag where tx.Exec, queued, returns
// an empty one.
func TestPipelinedStatementsRunInOrderAndReadsSeeThem(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	r := startScripted(ctx, t, s)

	res := appendScript(ctx, t, s, "ordered",
		[]step{{Note: "a"}, {Note: "b"}},                       // 1: rows 1, log 1a 1b
		[]step{{Note: "a"}, {Read: true, Rows: 2, Notes: 3}},   // 2: reads its own row and note
		[]step{{RowsAffected: true}, {Note: "z"}},              // 3: 3 rows get a "+"
		[]step{{Note: "a"}, {Note: "b"}, {Note: "c"}},          // 4
		[]step{{Read: true, Rows: 5, Notes: 7}, {Note: "end"}}, // 5
	)
	if err := r.WaitFor(ctx, res.LastPosition()); err != nil {
		t.Fatal(err)
	}
	notes, log := notesAndLog(ctx, t, s)
	wantNotes := []string{"1a1b+", "2a+", "+3z", "4a4b4c", "5end"}
	wantLog := []string{"1a", "1b", "2a", "3z", "4a", "4b", "4c", "5end"}
	if fmt.Sprint(notes) != fmt.Sprint(wantNotes) || fmt.Sprint(log) != fmt.Sprint(wantLog) {
		t.Fatalf("notes %q and log %q, want %q and %q", notes, log, wantNotes, wantLog)
	}
	for name, st := range statuses(ctx, t, r) {
		if st.Error != "" {
			t.Fatalf("%s failed: %s", name, st.Error)
		}
	}
}

// A queued statement that fails rolls back the whole batch of events (no
// event of it is applied, the checkpoint stays) and the error names the
// event that queued it, whether the failure shows at a later event's read
// or at the end of the batch, whatever the Handle that ran into it
// returned.
func TestAFailedQueuedStatementFailsItsBatchAndNamesItsEvent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after []step // the steps of the events after the poisoned one
	}{
		{"found at the end of the batch", []step{{Note: "a"}}},
		{"found by a later event's read", []step{{Read: true, Rows: 99, Notes: 99}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := ctxTimeout(t)
			s := newStore(t)
			r := startScripted(ctx, t, s)
			first := appendScript(ctx, t, s, "first", []step{{Note: "ok"}})
			if err := r.WaitFor(ctx, first.LastPosition()); err != nil {
				t.Fatal(err)
			}
			res := appendScript(ctx, t, s, "poisoned",
				[]step{{Note: "a"}}, []step{{Note: "b"}}, []step{{Note: "c"}, {Poison: true}, {Note: "d"}},
				tc.after, tc.after)
			poisoned := res.Positions[2]
			var st projections.Status
			waitUntil(ctx, t, "the projector reports its failure", func() (bool, error) {
				st = statuses(ctx, t, r)["scripted"]
				return st.Error != "", nil
			})
			want := fmt.Sprintf("projector scripted, event %d (Scripted poisoned v3): ", poisoned)
			if !strings.HasPrefix(st.Error, want) || !strings.Contains(st.Error, "check constraint") {
				t.Fatalf("error %q, want it to start with %q and tell of the check constraint", st.Error, want)
			}
			if st.Position >= res.Positions[0] {
				t.Fatalf("position %d past the start of the failed batch (%d)", st.Position, res.Positions[0])
			}
			notes, log := notesAndLog(ctx, t, s)
			if fmt.Sprint(notes) != "[1ok]" || fmt.Sprint(log) != "[1ok]" {
				t.Fatalf("after the failed batch the read model holds notes %q and log %q: not rolled back", notes, log)
			}
		})
	}
}

// Building a read model goes through the same pipeline: a failing
// statement fails the build and names its event.
func TestAFailedQueuedStatementFailsTheBuild(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	res := appendScript(ctx, t, s, "built", []step{{Note: "a"}}, []step{{Poison: true}}, []step{{Note: "c"}})
	waitUntil(ctx, t, "the events are visible", func() (bool, error) { h, err := s.Head(ctx); return h >= res.LastPosition(), err })
	err := projections.NewRunner(s, testLogger(t), scripted()).Prepare(ctx)
	want := fmt.Sprintf("projector scripted, event %d (Scripted built v2): ", res.Positions[1])
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Prepare: %v, want an error with %q", err, want)
	}
}

// A Handle may not end the batch's transaction.
func TestHandleCannotEndTheBatch(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	committer := projections.Projector{
		Name: "committer", Version: 1, Schema: `CREATE TABLE seen (version bigint)`,
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			if _, err := tx.Exec(ctx, `INSERT INTO seen VALUES ($1)`, rec.Version); err != nil {
				return err
			}
			return errors.Join(tx.Commit(ctx), tx.Rollback(ctx))
		},
	}
	res := appendScript(ctx, t, s, "committed", nil)
	// Prepare builds up to the events visible when it starts.
	waitUntil(ctx, t, "the event is visible", func() (bool, error) { h, err := s.Head(ctx); return h >= res.LastPosition(), err })
	err := projections.NewRunner(s, testLogger(t), committer).Prepare(ctx)
	if err == nil || !strings.Contains(err.Error(), "must not commit or roll back") {
		t.Fatalf("Prepare with a Handle that commits: %v", err)
	}
}

func statuses(ctx context.Context, t *testing.T, r *projections.Runner) map[string]projections.Status {
	t.Helper()
	list, err := r.Statuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]projections.Status{}
	for _, st := range list {
		m[st.Name] = st
	}
	return m
}

// HandleBatch gets the events in order, in batches, in the pipelined
// transaction; a queued statement that fails names the batch's range.
func TestHandleBatchGetsTheEventsInOrder(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	var batches [][]int64
	batched := projections.Projector{
		Name: "batched", Version: 1,
		Schema: `CREATE TABLE seen (position bigint PRIMARY KEY, stream text NOT NULL CHECK (stream <> 'poisoned'))`,
		HandleBatch: func(ctx context.Context, tx pgx.Tx, recs []eventstore.Record) error {
			var positions []int64
			var streams []string
			for _, rec := range recs {
				positions = append(positions, rec.Position)
				streams = append(streams, rec.StreamID)
			}
			batches = append(batches, positions)
			_, err := tx.Exec(ctx, `INSERT INTO seen SELECT * FROM unnest($1::bigint[], $2::text[])`, positions, streams)
			return err
		},
	}
	r := projections.NewRunner(s, testLogger(t), batched)
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	run(t, r)
	appendMany(t, s, 1200)
	if err := r.WaitFor(ctx, lastPosition(t, s)); err != nil {
		t.Fatal(err)
	}
	rows, err := s.Pool().Query(ctx, `SELECT position FROM events ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	events, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for _, b := range batches {
		if len(b) > 500 { // a step's page, in one call
			t.Errorf("a batch of %d events", len(b))
		}
		got = append(got, b...)
	}
	if len(batches) < 3 {
		t.Errorf("1,200 events in %d batches: pages of 500 at most make 3 or more", len(batches))
	}
	if fmt.Sprint(got) != fmt.Sprint(events) {
		t.Fatalf("HandleBatch got %v, want the events in order: %v", got, events)
	}

	res, err := s.Append(ctx, "poisoned", eventstore.NoStream,
		eventstore.Event{ID: uuid.New(), Type: "Tick"}, eventstore.Event{ID: uuid.New(), Type: "Tick"})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("projector batched, events %d to %d: ", res.Positions[0], res.Positions[1])
	waitUntil(ctx, t, "the projector reports its failure", func() (bool, error) {
		return strings.HasPrefix(statuses(ctx, t, r)["batched"].Error, want), nil
	})
}
