// Package clock is the one source of "now" for selfcare: the real clock, a
// clock that starts at a configured instant and runs forward (SELFCARE_NOW),
// and a manual clock for tests.
package clock

import (
	"sync"
	"time"
)

// Clock tells the time. Every part of selfcare that needs "now" (event times,
// expiries, subscription statuses, the scheduler) receives one.
type Clock interface {
	Now() time.Time
}

// Real is the system clock, in UTC.
type Real struct{}

// Now returns the current UTC time.
func (Real) Now() time.Time { return time.Now().UTC() }

// Shifted starts at a given instant and then runs forward in real time.
type Shifted struct {
	offset time.Duration
}

// StartingAt returns a clock that reads start now and advances in real time.
func StartingAt(start time.Time) *Shifted {
	return &Shifted{offset: time.Until(start)}
}

// Now returns the shifted current time, in UTC.
func (s *Shifted) Now() time.Time { return time.Now().Add(s.offset).UTC() }

// Manual is a clock for tests: it only moves when told to.
type Manual struct {
	mu  sync.Mutex
	now time.Time
}

// NewManual returns a manual clock reading t.
func NewManual(t time.Time) *Manual { return &Manual{now: t.UTC()} }

// Now returns the clock's current reading.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Set moves the clock to t.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = t.UTC()
}

// Advance moves the clock forward by d.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.now = m.now.Add(d)
}
