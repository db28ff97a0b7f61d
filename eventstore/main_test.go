package eventstore_test

import (
	"encoding/json"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// newStore returns a store on a fresh, migrated database.
func newStore(t testing.TB) *eventstore.Store {
	t.Helper()
	return eventstore.New(testdb.New(t), clock.Real{})
}

// newStoreWithConns is newStore with a pool of conns connections, for
// tests whose goroutines must really run concurrently in PostgreSQL (the
// default pool has as many connections as CPUs).
func newStoreWithConns(t testing.TB, conns int32) *eventstore.Store {
	t.Helper()
	return eventstore.New(testdb.NewWithConns(t, conns), clock.Real{})
}

// newEvent returns an event with a fresh id and a small payload.
func newEvent(typ string, n int) eventstore.Event {
	return eventstore.Event{
		ID:   uuid.New(),
		Type: typ,
		Data: json.RawMessage(fmt.Sprintf(`{"n": %d}`, n)),
	}
}

func newEvents(typ string, count int) []eventstore.Event {
	events := make([]eventstore.Event, count)
	for i := range events {
		events[i] = newEvent(typ, i)
	}
	return events
}

// testTimeout bounds what a test waits for: long enough for a loaded CI
// machine, short enough that a hang fails the test instead of the suite.
const testTimeout = 60 * time.Second
