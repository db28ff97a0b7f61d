package audit

import (
	"context"
	"crypto/hmac"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
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
		rows, err := tx.Query(ctx, `
SELECT coalesce(e.position, c.position), e.position IS NOT NULL, c.hash, `+storedColumns+`
FROM events e FULL JOIN rm_audit_chain.chain c ON c.position = e.position
ORDER BY 1`)
		if err != nil {
			return err
		}
		defer rows.Close()
		w := walker{key: key, prev: genesis[:], rep: &rep, anchor: anchor}
		for rows.Next() {
			var pos int64
			var hasEvent bool
			var stored []byte
			// A link without event scans NULLs into the event's fields:
			// scan them through nullable holders.
			var ev nullableEvent
			if err := rows.Scan(append([]any{&pos, &hasEvent, &stored}, ev.targets()...)...); err != nil {
				return err
			}
			done, err := w.step(pos, hasEvent, stored, ev)
			if err != nil || done {
				return err
			}
		}
		if err := rows.Err(); err != nil {
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

// walker checks the rows one by one.
type walker struct {
	key    []byte
	prev   []byte
	rep    *Report
	anchor *Anchor
}

// step checks one position; done is true at the first bad one.
func (w *walker) step(pos int64, hasEvent bool, stored []byte, ev nullableEvent) (done bool, err error) {
	if w.anchor != nil && !w.rep.AnchorChecked && pos > w.anchor.Position {
		// The anchored position is gone (or never was).
		return w.bad(w.anchor.Position, ProblemAnchorMismatch), nil
	}
	switch {
	case hasEvent && stored == nil && pos > w.rep.ChainedUpTo:
		w.rep.EventsNotChecked++
		return false, nil
	case hasEvent && stored == nil:
		return w.bad(pos, ProblemInserted), nil
	case !hasEvent:
		return w.bad(pos, ProblemMissing), nil
	}
	h, err := link(w.key, w.prev, ev.stored())
	if err != nil || !hmac.Equal(h, stored) {
		// A row that cannot even be encoded (its JSON made invalid, say)
		// was altered too.
		return w.bad(pos, ProblemAltered), nil
	}
	w.prev = h
	w.rep.EventsChecked++
	w.rep.HeadPosition, w.rep.HeadHash = pos, hex.EncodeToString(h)
	if w.anchor != nil && pos == w.anchor.Position {
		if !hmac.Equal(h, w.anchor.Hash) {
			return w.bad(pos, ProblemAnchorMismatch), nil
		}
		w.rep.AnchorChecked = true
	}
	return false, nil
}

func (w *walker) bad(pos int64, problem string) bool {
	w.rep.FirstBadPosition, w.rep.Problem = &pos, problem
	return true
}

// finish concludes a walk that found nothing bad on the way.
func (w *walker) finish() {
	if w.rep.FirstBadPosition != nil {
		return
	}
	if w.anchor != nil && !w.rep.AnchorChecked {
		// The log no longer reaches the anchored event: its tail was cut.
		w.bad(w.anchor.Position, ProblemAnchorMismatch)
		return
	}
	w.rep.OK = true
}

// nullableEvent scans an events row that may be all NULL (FULL JOIN).
type nullableEvent struct {
	position      *int64
	eventID       *uuid.UUID
	stream, typ   *string
	version       *int64
	schemaVersion *int32
	data, meta    []byte
	recordedAt    *time.Time
}

func (n *nullableEvent) targets() []any {
	return []any{&n.position, &n.eventID, &n.stream, &n.version, &n.typ, &n.schemaVersion, &n.data, &n.meta, &n.recordedAt}
}

func (n nullableEvent) stored() storedEvent {
	return storedEvent{
		Position: *n.position, EventID: *n.eventID, Stream: *n.stream, Version: *n.version, Type: *n.typ,
		SchemaVersion: *n.schemaVersion, Data: n.data, Metadata: n.meta, RecordedAt: *n.recordedAt,
	}
}
