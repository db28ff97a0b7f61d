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
	"github.com/jackc/pgx/v5/pgtype"

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
			var r1, r2 struct {
				pos, version pgtype.Int8
				id           pgtype.UUID
				stream, typ  pgtype.Text
				sv           pgtype.Int4
				data, meta   []byte
				at           pgtype.Timestamptz
				bound        int64
				heldBack     bool
			}
			if err := rawPageRow(rows.RawValues(), &r1.pos, &r1.id, &r1.stream, &r1.version, &r1.typ, &r1.sv, &r1.data, &r1.meta, &r1.at, &r1.bound, &r1.heldBack); err != nil {
				t.Fatal(err)
			}
			if err := rows.Scan(&r2.pos, &r2.id, &r2.stream, &r2.version, &r2.typ, &r2.sv, &r2.data, &r2.meta, &r2.at, &r2.bound, &r2.heldBack); err != nil {
				t.Fatal(err)
			}
			r2.at.Time = r2.at.Time.UTC()
			if r1.pos.Valid {
				raw = append(raw, Record{Position: r1.pos.Int64, EventID: r1.id.Bytes, StreamID: r1.stream.String, Version: r1.version.Int64, Type: r1.typ.String,
					SchemaVersion: int(r1.sv.Int32), Data: r1.data, RawMetadata: r1.meta, RecordedAt: r1.at.Time})
			}
			if r2.pos.Valid {
				scanned = append(scanned, Record{Position: r2.pos.Int64, EventID: r2.id.Bytes, StreamID: r2.stream.String, Version: r2.version.Int64, Type: r2.typ.String,
					SchemaVersion: int(r2.sv.Int32), Data: r2.data, RawMetadata: r2.meta, RecordedAt: r2.at.Time})
			}
			if r1.bound != r2.bound || r1.heldBack != r2.heldBack {
				t.Fatalf("%+v: bound %d/%d, held back %t/%t", opt, r1.bound, r2.bound, r1.heldBack, r2.heldBack)
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
