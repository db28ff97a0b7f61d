package eventstore

// ReadPageQuery exposes the SQL of ReadPage to the tests of its plan.
var ReadPageQuery = readPageQuery

// Waiting is how many single-event appends wait for a slot, to go in a
// group.
func (s *Store) Waiting() int { return s.queue.len() }
