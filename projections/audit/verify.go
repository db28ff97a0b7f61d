package audit

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/domain"
)

// Problems Verify reports at the first bad position.
const (
	// ProblemAltered: the event's content (or its stored link) changed
	// since it was chained.
	ProblemAltered = "altered"
	// ProblemMissing: a chained event is no longer in the events table.
	ProblemMissing = "missing"
	// ProblemInserted: an event sits among chained ones without a link of
	// its own: it was written into the past.
	ProblemInserted = "inserted"
	// ProblemAnchorMismatch: the chain recomputed up to the anchor's
	// position does not give the anchored hash (or the position is gone).
	ProblemAnchorMismatch = "anchor_mismatch"
)

// Report is the outcome of a verification.
type Report struct {
	// OK is true when every chained event checks and the anchor, if any,
	// matches.
	OK bool `json:"ok"`
	// EventsChecked counts the events whose link was recomputed and
	// matched (before the first bad one, if any).
	EventsChecked int64 `json:"events_checked"`
	// FirstBadPosition and Problem say where and how the log was altered.
	FirstBadPosition *int64 `json:"first_bad_position,omitempty"`
	Problem          string `json:"problem,omitempty"`
	// EventsNotChecked counts events not chained yet (the chain projector
	// lags behind the log): neither good nor bad.
	EventsNotChecked int64 `json:"events_not_checked"`
	// ChainedUpTo is the chain projector's checkpoint: every event at or
	// below it must have a link.
	ChainedUpTo int64 `json:"chained_up_to"`
	// HeadPosition and HeadHash are the last verified link; record them
	// outside selfcare and pass them back later as an Anchor.
	HeadPosition int64  `json:"head_position,omitempty"`
	HeadHash     string `json:"head_hash,omitempty"`
	// AnchorChecked tells whether the anchor given was reached and matched.
	AnchorChecked bool `json:"anchor_checked,omitempty"`
}

// Anchor is a link recorded outside selfcare's database: "at position P,
// the chain's hash was H". Verifying against it detects a rewrite of the
// log before P even by someone holding the database and the server secret.
type Anchor struct {
	Position int64
	Hash     []byte
}

// ParseAnchor reads "POSITION:HEXHASH" as printed by a verification. It
// returns a *domain.ValidationError (field "anchor").
func ParseAnchor(s string) (Anchor, error) {
	p, h, ok := strings.Cut(s, ":")
	pos, err := strconv.ParseInt(p, 10, 64)
	hash, herr := hex.DecodeString(h)
	if !ok || err != nil || pos <= 0 || herr != nil || len(hash) != len(genesis) {
		return Anchor{}, domain.Invalid("anchor", "invalid", "an anchor is POSITION:HASH, as head_position:head_hash of an earlier verification")
	}
	return Anchor{Position: pos, Hash: hash}, nil
}

// Verify recomputes the hash chain from the events table, in position
// order, and compares each link with the stored one. It reads one snapshot
// and stops at the first bad position. Events above the chain projector's
// checkpoint are counted as not checked. The key is the chain's
// (ChainKeyPurpose); anchor may be nil.
func Verify(ctx context.Context, pool *pgxpool.Pool, key []byte, anchor *Anchor) (Report, error) {
	var rep Report
	err := pgx.BeginTxFunc(ctx, pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var built bool
		if err := tx.QueryRow(ctx, `
SELECT to_regclass('rm_audit_chain.chain') IS NOT NULL,
       coalesce((SELECT position FROM projection_checkpoints WHERE name = $1), 0)`, ChainName).Scan(&built, &rep.ChainedUpTo); err != nil {
			return err
		}
		if !built {
			rep.ChainedUpTo = 0
			return tx.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&rep.EventsNotChecked)
		}
		// A link whose event is gone: the first one, if any. The walk
		// below reports it when it reaches its place.
		var missing *int64
		if err := tx.QueryRow(ctx, `
SELECT min(c.position) FROM rm_audit_chain.chain c
WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.position = c.position)`).Scan(&missing); err != nil {
			return err
		}
		// Events in position order with their links: an ordered scan of
		// both primary keys, nothing to sort. Read in one goroutine, hashed
		// in this one: the two overlap.
		w := walker{seal: newSealer(key), prev: genesis[:], rep: &rep, anchor: anchor, missing: missing}
		done, err := walkLog(ctx, tx, w.step)
		if err != nil || done {
			return err
		}
		w.finish()
		return nil
	})
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify the event log: %w", err)
	}
	return rep, nil
}

// walker checks the events one by one, in position order.
type walker struct {
	seal    *sealer
	prev    []byte
	rep     *Report
	anchor  *Anchor
	missing *int64 // the first link without its event
}

// step checks one event and its stored link (nil if none); it returns
// true at the first bad position.
func (w *walker) step(ev storedEvent, stored []byte) (done bool) {
	pos := ev.Position
	// Positions passed without seeing what should be there: a deleted
	// event, or an anchored one gone (or that never was). The lower first.
	anchorPassed := w.anchor != nil && !w.rep.AnchorChecked && pos > w.anchor.Position
	switch {
	case w.missing != nil && pos > *w.missing && (!anchorPassed || *w.missing <= w.anchor.Position):
		return w.bad(*w.missing, ProblemMissing)
	case anchorPassed:
		return w.bad(w.anchor.Position, ProblemAnchorMismatch)
	}
	switch {
	case stored == nil && pos > w.rep.ChainedUpTo:
		w.rep.EventsNotChecked++
		return false
	case stored == nil:
		return w.bad(pos, ProblemInserted)
	}
	h, err := w.seal.link(w.prev, ev)
	if err != nil || !hmac.Equal(h, stored) {
		// A row that cannot even be encoded (its JSON made invalid, say)
		// was altered too.
		return w.bad(pos, ProblemAltered)
	}
	w.prev = h
	w.rep.EventsChecked++
	w.rep.HeadPosition, w.rep.HeadHash = pos, hex.EncodeToString(h)
	if w.anchor != nil && pos == w.anchor.Position {
		if !hmac.Equal(h, w.anchor.Hash) {
			return w.bad(pos, ProblemAnchorMismatch)
		}
		w.rep.AnchorChecked = true
	}
	return false
}

func (w *walker) bad(pos int64, problem string) bool {
	w.rep.FirstBadPosition, w.rep.Problem = &pos, problem
	return true
}

// finish concludes a walk that found nothing bad on the way.
func (w *walker) finish() {
	switch {
	case w.missing != nil:
		// The last events were deleted, not their links.
		w.bad(*w.missing, ProblemMissing)
	case w.anchor != nil && !w.rep.AnchorChecked:
		// The log no longer reaches the anchored event: its tail was cut.
		w.bad(w.anchor.Position, ProblemAnchorMismatch)
	default:
		w.rep.OK = true
	}
}
