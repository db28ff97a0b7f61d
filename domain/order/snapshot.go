package order

import (
	"encoding/json"
	"fmt"

	"selfcare/domain"
)

// Snapshots of a Counter: placing order #N folds the counter's snapshot
// and the few events after it, not the contract's N orders. CounterSchema
// changes whenever Counter's state or its encoding does.
const (
	CounterSnapshotKind   = "order-counter"
	CounterSnapshotSchema = 1
)

type counterSnapshot struct {
	Last int `json:"last"`
}

// SnapshotKind names the counter's snapshots.
func (c *Counter) SnapshotKind() string { return CounterSnapshotKind }

// SnapshotSchema is the encoding version of the counter's snapshots.
func (c *Counter) SnapshotSchema() int { return CounterSnapshotSchema }

// MarshalSnapshot encodes the counter.
func (c *Counter) MarshalSnapshot() ([]byte, error) {
	return json.Marshal(counterSnapshot{Last: c.last})
}

// UnmarshalSnapshot restores a counter encoded by MarshalSnapshot. On error
// the counter is left unchanged.
func (c *Counter) UnmarshalSnapshot(data []byte) error {
	var s counterSnapshot
	if err := domain.DecodeSnapshot(data, &s); err != nil {
		return err
	}
	if s.Last < 0 {
		return fmt.Errorf("snapshot: order counter at %d", s.Last)
	}
	c.last = s.Last
	return nil
}
