package main

import (
	"testing"
	"time"

	"selfcare/internal/bench"
)

// -scale alone means the default million events, -scale N and -scale=N
// mean N, and the other flags keep working beside it.
func TestBenchScaleFlag(t *testing.T) {
	for _, c := range []struct {
		args     []string
		scale    int
		duration time.Duration
		only     string
		bad      bool
	}{
		{args: nil, scale: 0, duration: 4 * time.Second},
		{args: []string{"-scale"}, scale: bench.DefaultScale, duration: 4 * time.Second},
		{args: []string{"-scale", "-only", "rebuild"}, scale: bench.DefaultScale, duration: 4 * time.Second, only: "rebuild"},
		{args: []string{"-scale", "200000"}, scale: 200_000, duration: 4 * time.Second},
		{args: []string{"--scale=50_000", "-duration", "2s"}, scale: 50_000, duration: 2 * time.Second},
		{args: []string{"-duration", "1s", "-scale", "20000", "-only", "pages|seed"}, scale: 20_000, duration: time.Second, only: "pages|seed"},
		{args: []string{"-scale=many"}, bad: true},
		{args: []string{"-scale", "10"}, bad: true},
	} {
		flags, duration, only, scale := benchFlags()
		err := flags.Parse(scaleArgs(c.args))
		if c.bad {
			if err == nil && flags.NArg() == 0 {
				t.Errorf("%q: accepted, scale %d", c.args, *scale)
			}
			continue
		}
		if err != nil || flags.NArg() > 0 || int(*scale) != c.scale || *duration != c.duration || *only != c.only {
			t.Errorf("%q: scale %d, duration %v, only %q, args %q, err %v", c.args, *scale, *duration, *only, flags.Args(), err)
		}
	}
}
