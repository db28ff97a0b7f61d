// Package eventstore is selfcare's PostgreSQL event store: atomic appends
// with an expected version, stream loads, a gap-safe read of all events in
// position order, change signals, and the watermill bus that reads the same
// table. It knows nothing of the domain's types: it stores typed envelopes.
package eventstore

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
)

// Metadata travels with every event: who did it, on which contract, from
// where, and which request or event caused it. Auditors read it; it never
// holds secrets.
type Metadata struct {
	// Actor is the user login, "operator" for the back office, or
	// "system:<part>" for work the server does by itself (scheduler, ...).
	Actor         string `json:"actor,omitempty"`
	ActorKind     string `json:"actor_kind,omitempty"` // user | operator | auditor | system
	Contract      string `json:"contract,omitempty"`
	CorrelationID string `json:"correlation_id,omitempty"`
	CausationID   string `json:"causation_id,omitempty"`
	RequestID     string `json:"request_id,omitempty"`
	SourceIP      string `json:"source_ip,omitempty"`
}

// Event is an event to append: its identity, type name and encoded data.
// Re-appending an event whose ID is already stored in the same stream is a
// no-op, so a retried command with the same IDs cannot duplicate history.
type Event struct {
	ID            uuid.UUID
	Type          string
	SchemaVersion int
	Data          json.RawMessage
	Metadata      Metadata
}

// Record is a stored event.
type Record struct {
	// Position is the event's place in the global order: strictly
	// increasing in the order readers see events, not dense.
	Position      int64           `json:"position"`
	EventID       uuid.UUID       `json:"event_id"`
	StreamID      string          `json:"stream"`
	Version       int64           `json:"version"`
	Type          string          `json:"type"`
	SchemaVersion int             `json:"schema_version"`
	Data          json.RawMessage `json:"data"`
	Metadata      Metadata        `json:"metadata"`
	RecordedAt    time.Time       `json:"occurred_at"`
	// RawMetadata is the metadata as stored, when the record was read
	// with it (ReadPage, Load, Each): keys Metadata does not know included. The audit
	// chain seals these bytes.
	RawMetadata json.RawMessage `json:"-"`
}

// Expectation is what an append expects of the stream's current version.
type Expectation int64

const (
	// Any appends whatever the stream's version.
	Any Expectation = -1
	// NoStream requires the stream not to exist yet.
	NoStream Expectation = 0
)

// Exactly expects the stream to be at version v (v = 0: no stream).
func Exactly(v int64) Expectation { return Expectation(v) }

// ErrWrongExpectedVersion is matched (errors.Is) by every *VersionConflictError.
var ErrWrongExpectedVersion = errors.New("wrong expected version")

// ErrDuplicateEventID: some, but not all, of the events of an append were
// already stored. A retry must re-send exactly the events of the first try.
var ErrDuplicateEventID = errors.New("some event ids of the append are already stored")

// ErrStreamNotFound is returned by Load for a stream without events.
var ErrStreamNotFound = errors.New("stream not found")

// VersionConflictError says a stream was not at the expected version.
type VersionConflictError struct {
	Stream   string
	Expected Expectation
	// Actual is the stream's version when the conflict was found, or -1
	// when not known (see Tx.Append).
	Actual int64
}

func (e *VersionConflictError) Error() string {
	return fmt.Sprintf("stream %q: expected version %d, actual %d", e.Stream, e.Expected, e.Actual)
}

// Is makes errors.Is(err, ErrWrongExpectedVersion) true.
func (e *VersionConflictError) Is(target error) bool { return target == ErrWrongExpectedVersion }

// AppendResult tells where appended events landed.
type AppendResult struct {
	// Version is the stream's version after the append.
	Version int64
	// Positions of the appended events, in order.
	Positions []int64
}

// LastPosition is the position of the last appended event (0 if none).
func (r AppendResult) LastPosition() int64 {
	if len(r.Positions) == 0 {
		return 0
	}
	return r.Positions[len(r.Positions)-1]
}
