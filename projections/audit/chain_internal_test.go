package audit

import (
	"bytes"
	"net/url"
	"testing"
	"time"

	"github.com/google/uuid"
)

func sampleEvent() storedEvent {
	return storedEvent{
		Position: 42 << 20, EventID: uuid.MustParse("01900000-0000-7000-8000-000000000001"),
		Stream: "membership-OCB0000124-julie", Version: 3, Type: "RolesChanged", SchemaVersion: 1,
		Data:       []byte(`{"login": "julie", "after": {"console": ["admin"], "profiles": null}, "amount": 1.50}`),
		Metadata:   []byte(`{"actor": "paul", "source_ip": "192.0.2.1"}`),
		RecordedAt: time.Date(2026, 10, 5, 9, 0, 0, 123456000, time.UTC),
	}
}

func TestCanonicalJSONIgnoresKeyOrderAndSpacingOnly(t *testing.T) {
	t.Parallel()
	a, err := canonicalJSON([]byte(`{"b": [1, 2.50, {"y": 1, "x": "é<"}], "a": null}`))
	if err != nil {
		t.Fatal(err)
	}
	b, err := canonicalJSON([]byte("{\"a\":null,\n \"b\":[1,2.50,{\"x\":\"\\u00e9<\",\"y\":1}]}"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatalf("same document, different encodings: %s vs %s", a, b)
	}
	for _, other := range []string{
		`{"b": [1, 2.5, {"y": 1, "x": "é<"}], "a": null}`,  // 2.50 is not written 2.5: a number's text counts
		`{"b": [2.50, 1, {"y": 1, "x": "é<"}], "a": null}`, // array order counts
		`{"b": [1, 2.50, {"y": 1, "x": "é<"}], "a": ""}`,
	} {
		c, err := canonicalJSON([]byte(other))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(a, c) {
			t.Errorf("%s encodes like the original", other)
		}
	}
	if _, err := canonicalJSON([]byte(`{"a": 1} {"b": 2}`)); err == nil {
		t.Error("two documents accepted")
	}
}

// TestEveryFieldOfAnEventIsSealed changes each field in turn: each change
// gives another link, and so does another key or another previous link.
func TestEveryFieldOfAnEventIsSealed(t *testing.T) {
	t.Parallel()
	key, prev := []byte("k1"), genesis[:]
	base, err := link(key, prev, sampleEvent())
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := link(key, prev, sampleEvent()); !bytes.Equal(base, again) {
		t.Fatal("the same event gives two links")
	}
	for name, change := range map[string]func(*storedEvent){
		"position":       func(e *storedEvent) { e.Position++ },
		"event id":       func(e *storedEvent) { e.EventID[15]++ },
		"stream":         func(e *storedEvent) { e.Stream += "x" },
		"version":        func(e *storedEvent) { e.Version++ },
		"type":           func(e *storedEvent) { e.Type = "RolesChange" },
		"schema version": func(e *storedEvent) { e.SchemaVersion = 2 },
		"data":           func(e *storedEvent) { e.Data = []byte(`{"login": "julie"}`) },
		"metadata":       func(e *storedEvent) { e.Metadata = []byte(`{"actor": "paul", "source_ip": "192.0.2.2"}`) },
		"time":           func(e *storedEvent) { e.RecordedAt = e.RecordedAt.Add(time.Microsecond) },
		// Length prefixes: moving a byte from one field to the next is a change.
		"boundary": func(e *storedEvent) { e.Stream, e.Type = e.Stream+"R", "olesChanged" },
	} {
		e := sampleEvent()
		change(&e)
		h, err := link(key, prev, e)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Equal(h, base) {
			t.Errorf("changing the %s leaves the link as it was", name)
		}
	}
	if h, _ := link([]byte("k2"), prev, sampleEvent()); bytes.Equal(h, base) {
		t.Error("another key gives the same link")
	}
	if h, _ := link(key, base, sampleEvent()); bytes.Equal(h, base) {
		t.Error("another previous link gives the same link")
	}
	e := sampleEvent()
	e.Data = []byte(`{"login": `)
	if _, err := link(key, prev, e); err == nil {
		t.Error("invalid JSON sealed")
	}
}

func TestParseAnchor(t *testing.T) {
	t.Parallel()
	hash := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	a, err := ParseAnchor("1234:" + hash)
	if err != nil || a.Position != 1234 || len(a.Hash) != 32 {
		t.Fatalf("%+v %v", a, err)
	}
	for _, bad := range []string{"", "1234", ":" + hash, "0:" + hash, "-1:" + hash, "x:" + hash, "12:" + hash[:62], "12:" + hash + "00", "12:zz" + hash[2:]} {
		if _, err := ParseAnchor(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestRoleChangeFilterTimes(t *testing.T) {
	t.Parallel()
	f, err := ParseRoleChangeFilter(url.Values{"from": {"2026-10-01"}, "to": {"2026-10-31"}})
	if err != nil {
		t.Fatal(err)
	}
	if !f.From.Equal(time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)) || !f.upper().Equal(time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("a day range: from %v to before %v", f.From, f.upper())
	}
	sql, args := f.where()
	if sql != " AND r.occurred_at >= $1 AND r.occurred_at < $2" || len(args) != 2 {
		t.Fatalf("%q %v", sql, args)
	}
	f, err = ParseRoleChangeFilter(url.Values{"to": {"2026-10-31T12:00:00+02:00"}, "user": {" Julie "}})
	if err != nil {
		t.Fatal(err)
	}
	sql, args = f.where()
	if sql != " AND r.login_key = $1 AND r.occurred_at < $2" || args[0] != "julie" || !args[1].(time.Time).Equal(time.Date(2026, 10, 31, 10, 0, 0, 0, time.UTC)) {
		t.Fatalf("%q %v", sql, args)
	}
	// The same day as from and to is that whole day.
	if _, err := ParseRoleChangeFilter(url.Values{"from": {"2026-10-31"}, "to": {"2026-10-31"}}); err != nil {
		t.Fatalf("one day: %v", err)
	}
}
