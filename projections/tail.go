package projections

import (
	"context"
	"slices"
	"time"

	"selfcare/eventstore"
)

// tailPage is how many events the tail reads at most at a time (the
// runner's tailPage: a test makes the tail crawl).
const tailPage = 5000

// followTail reads, for every projector at once, which events have become
// visible, with their types only, and tells each projector whether it has
// anything to do: a projector with events of its types in the new range
// is woken, the progress of one without moves past the range at once,
// with no query of its own. So a read model that an event does not
// concern costs nothing when the event is appended, and WaitFor does not
// wait for it. It runs until ctx ends.
//
// A projector behind the range the tail reads (building up its backlog)
// is woken too, and reads for itself. So the tail starts where the
// furthest projector is: starting where the least advanced one is, it
// would first crawl through every event after that (hundreds of
// thousands, after a projector of rare events restarts), and meanwhile
// wake nobody further on.
func (r *Runner) followTail(ctx context.Context) {
	cursor := r.reachedMax()
	retry := 50 * time.Millisecond
	heldBackWait := minHeldBackWait
	for ctx.Err() == nil {
		changed, applied := r.store.Changes().C(), r.applied.C()
		// Every projector past the cursor (each reads for itself too, and
		// skips what it does not handle): nothing before them to tell.
		cursor = max(cursor, r.reachedAll())
		page, err := r.store.ReadPage(ctx, r.store.Pool(), cursor, eventstore.ReadOptions{Limit: r.tailPage, HeadersOnly: true})
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			r.logger.Error("reading new events failed; retrying", "err", err, "retry_in", retry)
			sleep(ctx, retry)
			retry = min(retry*2, 10*time.Second)
			continue
		}
		retry = 50 * time.Millisecond
		if page.Next > cursor {
			r.dispatch(cursor, page)
			cursor = page.Next
		}
		if len(page.Records) == r.tailPage {
			continue
		}
		wait, projected := r.PollInterval, (<-chan struct{})(nil)
		if page.HeldBack {
			// Committed events wait behind an older transaction. An
			// append's commit signals changed, a projection's commit in
			// this runner applied; other transactions (other processes'
			// projections, bus subscribers) end unannounced: look again
			// soon, less often while nothing moves. Under a steady load
			// nearly every read finds something held back: while events
			// come, the wait stays short.
			if len(page.Records) > 0 {
				heldBackWait = minHeldBackWait
			} else {
				heldBackWait = min(heldBackWait*2, maxHeldBackWait)
			}
			wait, projected = heldBackWait, applied
		} else {
			heldBackWait = minHeldBackWait
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-projected:
		case <-time.After(wait):
		}
	}
}

// How long the tail waits, at first and at most, before it looks again at
// events held back by a transaction in flight that may end unannounced.
const (
	minHeldBackWait = time.Millisecond
	maxHeldBackWait = 50 * time.Millisecond
)

// dispatch tells each projector about page, the events after from.
func (r *Runner) dispatch(from int64, page eventstore.Page) {
	for _, p := range r.projectors {
		progress := r.progress[p.Name].Load()
		if progress < from || slices.ContainsFunc(page.Records, func(rec eventstore.Record) bool {
			return rec.Position > progress && handles(p, rec.Type)
		}) {
			r.work[p.Name].Notify()
			continue
		}
		// Nothing for p up to page.Next: its read model already shows
		// everything there.
		r.advance(p.Name, page.Next)
	}
}

// handles reports whether p handles events of type t.
func handles(p Projector, t string) bool {
	return len(p.Types) == 0 || slices.Contains(p.Types, t)
}
