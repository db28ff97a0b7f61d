package commands

import (
	"errors"
	"fmt"
)

// ErrPreconditionFailed: the client's If-Match names a version the stream is
// no longer at (412). It is checked before deciding, on the version the
// command loaded.
var ErrPreconditionFailed = errors.New("the resource changed since you read it (If-Match does not match its ETag)")

// Precondition is what a client's If-Match requires of a stream's version
// before a command decides on it. The zero value requires nothing.
type Precondition struct {
	set      bool
	versions []int64
}

// IfMatch requires the stream to be at one of versions. With no version
// at all (an If-Match naming only tags that are not versions) nothing
// matches.
func IfMatch(versions ...int64) Precondition {
	return Precondition{set: true, versions: append([]int64(nil), versions...)}
}

// Check returns an error wrapping ErrPreconditionFailed unless version
// meets p.
func (p Precondition) Check(version int64) error {
	if !p.set {
		return nil
	}
	for _, v := range p.versions {
		if v == version {
			return nil
		}
	}
	return fmt.Errorf("%w: its current ETag is \"%d\"", ErrPreconditionFailed, version)
}
