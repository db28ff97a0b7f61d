package eventstore

// ReadPageQuery exposes the SQL of ReadPage to the tests of its plan.
var ReadPageQuery = readPageQuery
