package auth

import (
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy is returned instead of hashing when as many argon2id hashes as
// the process allows are already running and none ends within a short
// wait: each one holds about 19 MiB, so an unbounded number of them is a
// way to exhaust the server's memory. Callers answer 503 with Retry-After.
var ErrBusy = errors.New("auth: too many password checks at once, retry shortly")

// BusyRetryAfter is what a caller refused with ErrBusy should wait.
const BusyRetryAfter = time.Second

// gate bounds the hashes running at once across the process.
type gate struct {
	slots   chan struct{}
	wait    time.Duration
	running atomic.Int64
	peak    atomic.Int64
	refused atomic.Int64
	done    atomic.Int64
}

func newGate(n int, wait time.Duration) *gate {
	return &gate{slots: make(chan struct{}, n), wait: wait}
}

// hashes is the one gate every argon2id computation goes through: as many
// as there are CPUs (at least 2), which is also as many as can make
// progress at once.
var hashes = newGate(max(2, runtime.NumCPU()), 2*time.Second)

// do runs f when a slot is free, or returns ErrBusy after g.wait.
func (g *gate) do(f func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		t := time.NewTimer(g.wait)
		defer t.Stop()
		select {
		case g.slots <- struct{}{}:
		case <-t.C:
			g.refused.Add(1)
			return ErrBusy
		}
	}
	defer func() {
		g.running.Add(-1)
		<-g.slots
	}()
	n := g.running.Add(1)
	for p := g.peak.Load(); n > p && !g.peak.CompareAndSwap(p, n); p = g.peak.Load() {
	}
	f()
	g.done.Add(1)
	return nil
}

// HashStats are the counters of the hash gate (exported as metrics).
type HashStats struct {
	Limit   int   // hashes allowed at once
	Running int64 // hashes running now
	Peak    int64 // most hashes ever running at once
	Refused int64 // hashes refused with ErrBusy
	Done    int64 // hashes computed
}

// Hashes returns the counters of the process's hash gate.
func Hashes() HashStats {
	return HashStats{Limit: cap(hashes.slots), Running: hashes.running.Load(), Peak: hashes.peak.Load(), Refused: hashes.refused.Load(), Done: hashes.done.Load()}
}
