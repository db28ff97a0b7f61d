package projections_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/eventstore"
	"selfcare/projections"
)

// pickyProjector records the positions of the events of type Rare.
func pickyProjector() projections.Projector {
	return projections.Projector{
		Name: "picky", Version: 1, Types: []string{"Rare"},
		Schema: `CREATE TABLE seen (position bigint PRIMARY KEY)`,
		Handle: func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
			_, err := tx.Exec(ctx, `INSERT INTO seen VALUES ($1)`, rec.Position)
			return err
		},
	}
}

// A projector costs nothing when events of other types are appended: no
// transaction of its own, its checkpoint untouched (the runner's tail
// moves its progress on, for WaitFor); an event of its type still reaches
// it promptly.
func TestEventsOfOtherTypesDoNotWakeAProjector(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	r := projections.NewRunner(s, testLogger(t), counter(1, 0), pickyProjector())
	r.PollInterval = 10 * time.Second // only the tail's signal can wake it
	if err := r.Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	checkpointRow := func() (pos int64, updated time.Time) {
		t.Helper()
		err := s.Pool().QueryRow(ctx, `SELECT position, updated_at FROM projection_checkpoints WHERE name = 'picky'`).Scan(&pos, &updated)
		if err != nil {
			t.Fatal(err)
		}
		return pos, updated
	}
	pos0, updated0 := checkpointRow()
	run(t, r)

	appendMany(t, s, 300)
	last := lastPosition(t, s)
	if err := r.WaitFor(ctx, last); err != nil {
		t.Fatal(err)
	}
	if pos, updated := checkpointRow(); pos != pos0 || !updated.Equal(updated0) {
		t.Fatalf("picky's checkpoint went from %d (%s) to %d (%s) over events it does not handle", pos0, updated0, pos, updated)
	}
	if st := statuses(ctx, t, r)["picky"]; st.Position < last || st.Lag != 0 {
		t.Fatalf("picky's status %+v, want it at %d or beyond, without lag", st, last)
	}

	res, err := s.Append(ctx, "rare", eventstore.NoStream, eventstore.Event{ID: uuid.New(), Type: "Rare"})
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := r.WaitFor(waitCtx, res.LastPosition()); err != nil {
		t.Fatal(err)
	}
	var seen int64
	if err := s.Pool().QueryRow(ctx, `SELECT position FROM rm_picky.seen`).Scan(&seen); err != nil || seen != res.LastPosition() {
		t.Fatalf("picky saw %d (%v), want %d", seen, err, res.LastPosition())
	}
	if pos, _ := checkpointRow(); pos < res.LastPosition() {
		t.Fatalf("picky's checkpoint %d, want %d or beyond", pos, res.LastPosition())
	}
}

// A projector restarted far behind the head, past many events it does not
// handle, is woken by its next event at once: the tail does not crawl
// through the backlog (one event at a time here) before it tells anyone.
func TestTheTailDoesNotCrawlThroughABacklog(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	s := newStore(t)
	if err := projections.NewRunner(s, testLogger(t), pickyProjector()).Prepare(ctx); err != nil {
		t.Fatal(err)
	}
	backlog := make([]eventstore.Event, 5000)
	for i := range backlog {
		backlog[i] = eventstore.Event{ID: uuid.New(), Type: "Tick"}
	}
	res, err := s.Append(ctx, "backlog", eventstore.NoStream, backlog...)
	if err != nil {
		t.Fatal(err)
	}
	r := projections.NewRunner(s, testLogger(t), pickyProjector())
	r.PollInterval = time.Minute // only the tail's signal can wake it
	projections.SetTailPage(r, 1)
	run(t, r)
	if err := r.WaitFor(ctx, res.LastPosition()); err != nil { // picky's own first read skips the backlog
		t.Fatal(err)
	}

	rare, err := s.Append(ctx, "rare", eventstore.NoStream, eventstore.Event{ID: uuid.New(), Type: "Rare"})
	if err != nil {
		t.Fatal(err)
	}
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Second) // crawling takes 5,000 round trips
	defer cancel()
	if err := r.WaitFor(waitCtx, rare.LastPosition()); err != nil {
		t.Fatal(err)
	}
}
