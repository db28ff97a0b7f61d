package projections_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/eventstore"
	"selfcare/internal/clock"
	"selfcare/internal/testdb"
	"selfcare/projections"
)

// The crash test re-executes the test binary as a projection process:
// with helperEnv set, TestMain runs runHelper instead of the tests.
const (
	helperEnv     = "SELFCARE_PROJECTIONS_TEST_HELPER"
	helperURLEnv  = "SELFCARE_PROJECTIONS_TEST_DATABASE_URL"
	helperAppName = "projections-test-helper"
)

// runHelper runs the counter projector, announcing on stdout each event
// it applies (before its transaction commits), until it is killed.
func runHelper() int {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(os.Getenv(helperURLEnv))
	if err != nil {
		logger.Error("helper", "err", err)
		return 1
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = helperAppName
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		logger.Error("helper", "err", err)
		return 1
	}
	store := eventstore.New(pool, clock.Real{})
	go store.Listen(ctx, logger)
	p := counter(1, 0)
	handle := p.Handle
	p.Handle = func(ctx context.Context, tx pgx.Tx, rec eventstore.Record) error {
		if err := handle(ctx, tx, rec); err != nil {
			return err
		}
		fmt.Printf("applied %d\n", rec.Position)
		return nil
	}
	if err := projections.NewRunner(store, logger, p).Run(ctx); err != nil {
		logger.Error("helper", "err", err)
		return 1
	}
	return 0
}

// helper is a running projection process.
type helper struct {
	cmd     *exec.Cmd
	stderr  bytes.Buffer
	applied atomic.Int64 // highest position it said it applied
	read    sync.WaitGroup
}

func startHelper(t *testing.T, url string) *helper {
	t.Helper()
	h := &helper{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	h.cmd.Env = append(os.Environ(), helperEnv+"=1", helperURLEnv+"="+url)
	h.cmd.Stderr = &h.stderr
	stdout, err := h.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := h.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h.read.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if pos, ok := strings.CutPrefix(sc.Text(), "applied "); ok {
				if p, err := strconv.ParseInt(pos, 10, 64); err == nil && p > h.applied.Load() {
					h.applied.Store(p)
				}
			}
		}
	})
	t.Cleanup(func() { h.kill(t) })
	return h
}

// kill kills the process with SIGKILL: no deferred function, no rollback
// sent, no connection closed politely.
func (h *helper) kill(t *testing.T) {
	if h.cmd.ProcessState != nil {
		return
	}
	if err := h.cmd.Process.Kill(); err != nil {
		t.Errorf("kill helper: %v", err)
	}
	h.read.Wait()
	_ = h.cmd.Wait() // "signal: killed"
	if t.Failed() {
		t.Logf("helper %d stderr:\n%s", h.cmd.Process.Pid, h.stderr.String())
	}
}

// waitUntil polls cond every 10 ms until it holds or ctx ends.
func waitUntil(ctx context.Context, t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	for {
		ok, err := cond()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", what, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// The projection runtime applies each event exactly once even when its
// process is killed (SIGKILL) in the middle of a rebuild or of a batch,
// while events keep being appended: after restarts, the read model equals
// a recount of the events table.
func TestProjectionIsExactlyOnceAcrossKills(t *testing.T) {
	t.Parallel()
	ctx := ctxTimeout(t)
	url := testdb.NewURL(t)
	pool := newPool(t, url)
	s := eventstore.New(pool, clock.Real{})
	listenCtx, stopListening := context.WithCancel(context.Background())
	var listening sync.WaitGroup
	listening.Go(func() { s.Listen(listenCtx, testLogger(t)) }) // tells the helper of new events
	t.Cleanup(func() { stopListening(); listening.Wait() })

	appendMany(t, s, 400) // the first helper builds the read model from these
	writeCtx, stopWriting := context.WithCancel(ctx)
	defer stopWriting()
	var writers sync.WaitGroup
	var written atomic.Int64
	for w := range 3 {
		writers.Go(func() {
			for i := w; writeCtx.Err() == nil; i += 3 {
				if _, err := appendOne(writeCtx, s, i); err != nil {
					if writeCtx.Err() == nil {
						t.Errorf("append: %v", err)
					}
					return
				}
				written.Add(1)
				time.Sleep(3 * time.Millisecond)
			}
		})
	}

	helperGone := func() (bool, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1`, helperAppName).Scan(&n)
		return n == 0, err
	}
	shadows := func() (int, error) {
		var n int
		err := pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'rm\_counts\_\_rb\_%'`).Scan(&n)
		return n, err
	}
	position := func() (int64, error) {
		pos, _, err := checkpoint(ctx, pool)
		if errors.Is(err, pgx.ErrNoRows) {
			return 0, nil
		}
		return pos, err
	}

	// Kill 1: while the first helper builds the read model.
	h := startHelper(t, url)
	waitUntil(ctx, t, "rebuild starts", func() (bool, error) { n, err := shadows(); return n > 0, err })
	time.Sleep(100 * time.Millisecond)
	h.kill(t)
	waitUntil(ctx, t, "killed helper's sessions end", helperGone)
	if pos, err := position(); err != nil || pos != 0 {
		t.Fatalf("kill during the first build: checkpoint %d (%v), want none yet", pos, err)
	}

	// Then kills while following, after some progress, until two of them
	// have landed in the middle of a batch.
	lostWork, kills := 0, 1
	for ; lostWork < 2 && kills < 10; kills++ {
		before, err := position()
		if err != nil {
			t.Fatal(err)
		}
		h := startHelper(t, url)
		waitUntil(ctx, t, "helper makes progress", func() (bool, error) { p, err := position(); return p > before, err })
		time.Sleep(time.Duration(rand.IntN(50)) * time.Millisecond)
		// Kill it while it has applied events it has not committed yet
		// (unless it commits them just then).
		waitUntil(ctx, t, "helper is in the middle of a batch", func() (bool, error) {
			p, err := position()
			return h.applied.Load() > p, err
		})
		h.kill(t)
		waitUntil(ctx, t, "killed helper's sessions end", helperGone)
		after, err := position()
		if err != nil {
			t.Fatal(err)
		}
		if h.applied.Load() > after {
			lostWork++ // it died with applied events uncommitted
		}
	}
	stopWriting()
	writers.Wait()

	h = startHelper(t, url)
	var model, events map[string]int64
	waitUntil(ctx, t, "read model catches up", func() (bool, error) {
		pos, err := position()
		if err != nil || pos < head(t, s) {
			return false, err
		}
		if model, err = readModel(ctx, pool); err != nil {
			return false, err
		}
		events, err = recount(ctx, pool, 0)
		return err == nil && sameCounts(model, events) == nil, err
	})
	h.kill(t)
	if err := sameCounts(model, events); err != nil {
		t.Fatal(err)
	}
	if lostWork == 0 {
		t.Fatal("no kill landed in the middle of a batch: the test proved nothing about crashes")
	}
	if n, err := shadows(); err != nil || n != 0 {
		t.Fatalf("%d shadow schemas of interrupted rebuilds are left (%v)", n, err)
	}
	t.Logf("%d events, %d kills (one during the first build, %d in the middle of a batch): the read model equals a recount",
		written.Load()+400, kills, lostWork)
}
