// Package domaintest holds what the domain packages' tests share.
package domaintest

import (
	"encoding/json"
	"testing"

	"selfcare/domain"
)

// RoundTrip checks that each event, encoded as stored, decodes through
// its registered type (one of types, by name) into the same event.
func RoundTrip(t testing.TB, types []domain.EventType, events ...domain.Event) {
	t.Helper()
	byName := map[string]domain.EventType{}
	for _, et := range types {
		byName[et.Name] = et
	}
	for _, e := range events {
		et, ok := byName[e.EventType()]
		if !ok {
			t.Errorf("%s is not among the registered types", e.EventType())
			continue
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		back, err := et.Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", e.EventType(), err)
		}
		again, err := json.Marshal(back)
		if err != nil {
			t.Fatal(err)
		}
		if string(again) != string(data) {
			t.Errorf("%s: %s became %s", e.EventType(), data, again)
		}
	}
}
