package handlers

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/eventstore"
)

// TestFeedEventIsTheRecordsJSON holds the feed's hand-written encoding of
// an event to what encoding/json makes of the record: the same fields and
// values, whatever the strings hold, its metadata as stored when the
// record was read with it.
func TestFeedEventIsTheRecordsJSON(t *testing.T) {
	t.Parallel()
	meta := eventstore.Metadata{Actor: "jo\"e\\<>&\u2028", ActorKind: "user", Contract: "OCB0000001", RequestID: "req-é"}
	stored, err := json.Marshal(meta)
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []eventstore.Record{
		{Position: 1 << 40, EventID: uuid.New(), StreamID: "membership-OCB0000001-\"o'neil\"\t", Version: 7, Type: "RolesChanged",
			SchemaVersion: 2, Data: json.RawMessage(`{"a": [1, 2.50, "x\u00e9\"y"], "b": {"z": null, "c": true}}`),
			Metadata: meta, RecordedAt: time.Date(2026, 12, 5, 4, 0, 0, 123456000, time.UTC)},
		{Position: 3, EventID: uuid.New(), StreamID: "s", Version: 1, Type: "T", SchemaVersion: 1, Data: json.RawMessage(`{}`),
			Metadata: meta, RawMetadata: stored, RecordedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		got, err := FeedEvent(rec)
		if err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(rec)
		if err != nil {
			t.Fatal(err)
		}
		var g, w map[string]any
		if err := json.Unmarshal(got, &g); err != nil {
			t.Fatalf("feed event %s: %v", got, err)
		}
		if err := json.Unmarshal(want, &w); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(g, w) {
			t.Errorf("feed event\n%s\nrecord's JSON\n%s", got, want)
		}
	}
}
