package auth

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// The gate never lets more than its bound run, and refuses with ErrBusy
// when no slot frees within its wait.
func TestTheHashGateBoundsConcurrentHashes(t *testing.T) {
	g := newGate(3, time.Second)
	var mu sync.Mutex
	running, most := 0, 0
	var wg sync.WaitGroup
	for range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := g.do(func() {
				mu.Lock()
				running++
				most = max(most, running)
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
				mu.Lock()
				running--
				mu.Unlock()
			})
			if err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if most > 3 || g.peak.Load() > 3 || most == 0 {
		t.Fatalf("%d hashes ran at once (peak counter %d), want at most 3", most, g.peak.Load())
	}
	if g.done.Load() != 40 {
		t.Fatalf("done = %d, want 40", g.done.Load())
	}

	full := newGate(1, 20*time.Millisecond)
	release := make(chan struct{})
	started := make(chan struct{})
	go func() { _ = full.do(func() { close(started); <-release }) }()
	<-started
	begin := time.Now()
	if err := full.do(func() { t.Error("ran past a full gate") }); !errors.Is(err, ErrBusy) {
		t.Fatalf("full gate: %v, want ErrBusy", err)
	}
	if waited := time.Since(begin); waited < 20*time.Millisecond {
		t.Fatalf("refused after %s, before its wait", waited)
	}
	close(release)
	if full.refused.Load() != 1 {
		t.Fatalf("refused = %d", full.refused.Load())
	}
}
