package eventstore

import "time"

// ReadPageQuery exposes the SQL of ReadPage to the tests of its plan.
var ReadPageQuery = readPageQuery

// Waiting is how many single-event appends wait for a slot, to go in a
// group.
func (s *Store) Waiting() int { return s.queue.len() }

// SetSettle sets how long the subscriber, idle and woken by a commit,
// waits before it reads (busSettle); call it before Subscribe.
func (s *Subscriber) SetSettle(d time.Duration) { s.backoff.settle = d }
