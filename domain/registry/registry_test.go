package registry

import (
	"encoding/json"
	"testing"

	"selfcare/domain"
)

type testEvent struct {
	Name string `json:"name"`
}

func (testEvent) EventType() string { return "TestEvent" }

func TestAllHasNoDuplicatesAndNamesMatchTypes(t *testing.T) {
	r := All() // panics on a duplicate
	for _, name := range r.Names() {
		e, err := r.Decode(name, r.Version(name), []byte(`{}`))
		if err != nil {
			t.Errorf("decode empty %s: %v", name, err)
			continue
		}
		if e.EventType() != name {
			t.Errorf("type registered as %q decodes to an event named %q", name, e.EventType())
		}
	}
}

func TestAPIEventNamesAreRegistered(t *testing.T) {
	r := All()
	// API.md "Event types": consumers rely on these names.
	for _, name := range apiEventTypes {
		if !r.Known(name) {
			t.Errorf("event type %q of API.md is not registered", name)
		}
	}
}

func TestUpcastRunsStepByStep(t *testing.T) {
	r, err := New([]domain.EventType{{
		Name: "TestEvent", Version: 3, Decode: domain.DecodeJSON[testEvent],
		Upcast: map[int]func([]byte) ([]byte, error){
			1: func(b []byte) ([]byte, error) { return []byte(`{"name":"v2"}`), nil },
			2: func(b []byte) ([]byte, error) {
				var e testEvent
				_ = json.Unmarshal(b, &e)
				return json.Marshal(testEvent{Name: e.Name + "+v3"})
			},
		},
	}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := r.Decode("TestEvent", 1, []byte(`{"old":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.(testEvent).Name; got != "v2+v3" {
		t.Fatalf("upcast from v1 gave %q, want v2+v3", got)
	}
	if _, err := r.Decode("TestEvent", 4, []byte(`{}`)); err == nil {
		t.Fatal("an event newer than the program decoded without error")
	}
	if _, err := r.Decode("Nope", 1, []byte(`{}`)); err == nil {
		t.Fatal("an unknown type decoded without error")
	}
}

func TestDuplicateNamesAreRefused(t *testing.T) {
	list := []domain.EventType{{Name: "TestEvent", Decode: domain.DecodeJSON[testEvent]}}
	if _, err := New(list, list); err == nil {
		t.Fatal("a type listed twice was accepted")
	}
}
