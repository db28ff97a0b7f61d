package commands

import (
	"errors"
	"testing"
)

func TestPrecondition(t *testing.T) {
	cases := []struct {
		name    string
		p       Precondition
		version int64
		ok      bool
	}{
		{"none required", Precondition{}, 7, true},
		{"matching version", IfMatch(7), 7, true},
		{"one of several", IfMatch(3, 7), 7, true},
		{"stale version", IfMatch(6), 7, false},
		{"no usable tag matches nothing", IfMatch(), 7, false},
	}
	for _, tc := range cases {
		err := tc.p.Check(tc.version)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, ErrPreconditionFailed) {
			t.Errorf("%s: Check(%d) = %v", tc.name, tc.version, err)
		}
	}
}
