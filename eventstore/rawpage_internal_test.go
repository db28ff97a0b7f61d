package eventstore

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/internal/clock"
	"selfcare/internal/testdb"
)

// A page read from the wire values is the page the driver's scan gives,
// and the driver does send the formats it is read in.
func TestRawPageRowsAreTheScannedRows(t *testing.T) {
	t.Parallel()
	s := New(testdb.New(t), clock.Real{})
	ctx := context.Background()
	var events []Event
	for i, data := range []string{`{}`, `{"a": "é \u2028 \"q\""}`, fmt.Sprintf(`{"big": %q}`, strings.Repeat("x", 5000)), `[1, 2.5, null, true]`} {
		events = append(events, Event{ID: uuid.New(), Type: fmt.Sprintf("Type%d", i), Data: json.RawMessage(data), Metadata: Metadata{Actor: fmt.Sprintf("user-%d-é", i), SourceIP: "127.0.0.1"}})
	}
	res, err := s.Append(ctx, "raw-ström", NoStream, events...)
	if err != nil {
		t.Fatal(err)
	}
	// Until no older transaction (of any database of the cluster) holds
	// them back from gap-safe readers.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := s.WaitVisible(wctx, res.LastPosition()); err != nil {
		t.Fatal(err)
	}
	for _, opt := range []ReadOptions{{}, {HeadersOnly: true}, {RawMetadata: true}, {Types: []string{"Type1"}}} {
		sql, args := readPageQuery(0, opt)
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			t.Fatal(err)
		}
		if !binaryPageColumns(rows.FieldDescriptions()) {
			t.Fatalf("%+v: the page's columns came in other formats than rawPageRow reads: the fast path is never taken", opt)
		}
		var raw, scanned []Record
		for rows.Next() {
			var decoded, borrowed, byDriver pageRow
			if err := decoded.decode(rows.RawValues(), false); err != nil {
				t.Fatal(err)
			}
			// Borrowed, the documents are the driver's bytes, as long as
			// the row is current: the same record.
			if err := borrowed.decode(rows.RawValues(), true); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(borrowed.record(), decoded.record()) {
				t.Fatalf("%+v: borrowed %+v, copied %+v", opt, borrowed.record(), decoded.record())
			}
			if err := byDriver.scan(rows); err != nil {
				t.Fatal(err)
			}
			if decoded.pos.Valid {
				raw = append(raw, decoded.record())
			}
			if byDriver.pos.Valid {
				scanned = append(scanned, byDriver.record())
			}
			if decoded.bound != byDriver.bound || decoded.heldBack != byDriver.heldBack {
				t.Fatalf("%+v: bound %d/%d, held back %t/%t", opt, decoded.bound, byDriver.bound, decoded.heldBack, byDriver.heldBack)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if len(raw) == 0 || !reflect.DeepEqual(raw, scanned) {
			t.Fatalf("%+v: read from the wire:\n%+v\nscanned:\n%+v", opt, raw, scanned)
		}
		if raw[0].RecordedAt.Location() != time.UTC || time.Since(raw[0].RecordedAt) > time.Minute || time.Since(raw[0].RecordedAt) < 0 {
			t.Fatalf("%+v: recorded at %v", opt, raw[0].RecordedAt)
		}
	}
}
