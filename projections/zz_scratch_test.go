package projections_test

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/eventstore"
	"selfcare/internal/testkit"
)

func TestScratchBulkSpeed(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("SCRATCH_EVENTS"))
	if n == 0 {
		t.Skip()
	}
	env := testkit.New(t)
	makeHistory(t, env)
	env.SettleReadModels()
	ctx := context.Background()
	s := env.Server.Store
	page, err := s.ReadPage(ctx, env.Pool, 0, eventstore.ReadOptions{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	tmpl := page.Records
	var cids []string
	for _, r := range tmpl {
		if r.Type == "ContractCreated" {
			cids = append(cids, strings.TrimPrefix(r.StreamID, "contract-"))
		}
	}
	t.Logf("template: %d events, contracts %v", len(tmpl), cids)
	start := time.Now()
	total := 0
	for k := 0; total < n; k++ {
		err := s.Transact(ctx, func(tx *eventstore.Tx) error {
			for j := 0; j < 20 && total < n; j++ {
				clone := k*20 + j
				byStream := map[string][]eventstore.Event{}
				var order []string
				for _, r := range tmpl {
					rep := func(x string) string {
						for i, c := range cids {
							x = strings.ReplaceAll(x, c, fmt.Sprintf("OCX%d%07d", i, clone))
						}
						return x
					}
					st := rep(r.StreamID)
					if _, ok := byStream[st]; !ok {
						order = append(order, st)
					}
					md := r.Metadata
					md.Contract = rep(md.Contract)
					byStream[st] = append(byStream[st], eventstore.Event{ID: uuid.New(), Type: r.Type, SchemaVersion: r.SchemaVersion, Data: []byte(rep(string(r.Data))), Metadata: md})
					total++
				}
				for _, st := range order {
					if _, err := tx.Append(ctx, st, eventstore.Any, byStream[st]...); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("seeded %d events in %v", total, time.Since(start))
	env.SettleReadModels()
	for _, p := range env.Server.Runner.Projectors() {
		if os.Getenv("SCRATCH_ALL") != "" {
			break
		}
		start := time.Now()
		if err := env.Server.Runner.Rebuild(ctx, p.Name, nil); err != nil {
			t.Fatal(err)
		}
		d := time.Since(start)
		t.Logf("rebuild %-14s %6.2fs  %8.0f events/s", p.Name, d.Seconds(), float64(total)/d.Seconds())
	}
	f, _ := os.Create("/tmp/lead/cpu.prof")
	pprof.StartCPUProfile(f)
	defer pprof.StopCPUProfile()
	start = time.Now()
	if err := env.Server.Runner.Rebuild(ctx, "", nil); err != nil {
		t.Fatal(err)
	}
	d := time.Since(start)
	t.Logf("rebuild all %6.2fs  %8.0f events/s", d.Seconds(), float64(total)/d.Seconds())
}
