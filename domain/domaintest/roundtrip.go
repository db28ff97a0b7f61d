// Package domaintest holds what the domain packages' tests share.
package domaintest

import (
	"encoding/json"
	"reflect"
	"testing"

	"selfcare/domain"
)

// RoundTrip checks a package's event types against samples, one event of
// each type: every sample is of a type among types and every type has a
// sample; each sample, encoded as stored, decodes through its type into
// an equal event of the same Go type.
func RoundTrip(t testing.TB, types []domain.EventType, samples ...domain.Event) {
	t.Helper()
	byName := map[string]domain.EventType{}
	for _, et := range types {
		byName[et.Name] = et
	}
	sampled := map[string]bool{}
	for _, e := range samples {
		name := e.EventType()
		sampled[name] = true
		et, ok := byName[name]
		if !ok {
			t.Errorf("%s is not among the registered types", name)
			continue
		}
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		back, err := et.Decode(data)
		if err != nil {
			t.Fatalf("%s: decode %s: %v", name, data, err)
		}
		if !reflect.DeepEqual(back, e) {
			t.Errorf("%s round trip:\n got %#v\nwant %#v", name, back, e)
		}
	}
	for _, et := range types {
		if !sampled[et.Name] {
			t.Errorf("no sample of %s", et.Name)
		}
	}
}
