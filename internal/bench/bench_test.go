package bench_test

import (
	"bytes"
	"context"
	"log/slog"
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"selfcare/internal/bench"
	"selfcare/internal/testdb"
	"selfcare/internal/testnats"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// The event store's measurements run (briefly) on a test database: each
// reports positive figures, the appends against a baseline, and the table
// names each one with its target.
func TestEventStoreMeasurementsRun(t *testing.T) {
	pool := testdb.NewWithConns(t, 40)
	env := bench.NewEnv(pool, 200*time.Millisecond, slog.New(slog.DiscardHandler))
	var out bytes.Buffer
	var ours []bench.Measurement
	for _, m := range bench.Default() {
		if strings.HasPrefix(m.Name, "append") || strings.HasPrefix(m.Name, "projection lag") {
			ours = append(ours, m)
		}
	}
	results, err := bench.Run(t.Context(), env, ours, &out)
	if err != nil {
		t.Fatal(err)
	}
	table := out.String()
	t.Log("\n" + table)
	if len(results) != 6+5*4 {
		t.Fatalf("%d results, want 6 appends and 5×4 lag figures (full speed and every read model at 8 and 32 writers, paced)", len(results))
	}
	for _, r := range results {
		if !(r.Value > 0) || math.IsInf(r.Value, 0) {
			t.Errorf("%s: value %v", r.Name, r.Value)
		}
		if strings.HasPrefix(r.Name, "append") && !(r.Baseline > 0) {
			t.Errorf("%s: no baseline", r.Name)
		}
		if !strings.Contains(table, r.Name) {
			t.Errorf("the table does not show %s", r.Name)
		}
	}
	for _, want := range []string{"ratio ≥ 0.8", "< 50 ms", "targets met"} {
		if !strings.Contains(table, want) {
			t.Errorf("the table does not show %q", want)
		}
	}
	var settings string
	if settings, err = bench.Settings(t.Context(), pool); err != nil || !strings.Contains(settings, "fsync=") || !strings.Contains(settings, "PostgreSQL") {
		t.Fatalf("settings: %q, %v", settings, err)
	}
}

// Each result says whether it meets its target, in the table too.
func TestTargets(t *testing.T) {
	for _, tc := range []struct {
		r    bench.Result
		want bool
	}{
		{bench.Result{Value: 900, Baseline: 1000, Target: bench.MinRatio(0.8)}, true},
		{bench.Result{Value: 700, Baseline: 1000, Target: bench.MinRatio(0.8)}, false},
		{bench.Result{Value: 49, Target: bench.Below(50, "ms")}, true},
		{bench.Result{Value: 50, Target: bench.Below(50, "ms")}, false},
	} {
		if got := tc.r.Target.Met(tc.r); got != tc.want {
			t.Errorf("%+v against %s: met %v, want %v", tc.r, tc.r.Target.Text, got, tc.want)
		}
	}
	var out bytes.Buffer
	m := bench.Measurement{Name: "fake", Run: func(context.Context, *bench.Env) ([]bench.Result, error) {
		return []bench.Result{
			{Name: "fast", Unit: "events/s", Value: 900, Baseline: 1000, Target: bench.MinRatio(0.8)},
			{Name: "slow", Unit: "ms", Value: 70, Target: bench.Below(50, "ms")},
		}, nil
	}}
	if _, err := bench.Run(context.Background(), &bench.Env{Logger: slog.New(slog.DiscardHandler)}, []bench.Measurement{m}, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	if !strings.Contains(lines[1], "0.90") || !strings.Contains(lines[1], "ok") || !strings.Contains(lines[2], "MISSED") ||
		!strings.Contains(out.String(), "1 of 2 targets met") {
		t.Fatalf("table:\n%s", out.String())
	}
}

// The NATS measurement runs (briefly) with a real nats-server: rates
// against the HTTP feed's, and the lag from commit to consumer.
func TestNATSMeasurementRuns(t *testing.T) {
	testnats.Require(t)
	pool := testdb.NewWithConns(t, 20)
	env := bench.NewEnv(pool, 300*time.Millisecond, slog.New(slog.DiscardHandler))
	var out bytes.Buffer
	results, err := bench.Run(t.Context(), env, []bench.Measurement{bench.NATSForwarding(500)}, &out)
	if err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	if len(results) != 4 {
		t.Fatalf("%d results, want forward and end-to-end rates and lag p50/p99", len(results))
	}
	for i, r := range results {
		if !(r.Value > 0) || math.IsInf(r.Value, 0) || (i < 2 && !(r.Baseline > 0)) {
			t.Errorf("%s: value %v, baseline %v", r.Name, r.Value, r.Baseline)
		}
	}
	if results[2].Value > results[3].Value {
		t.Errorf("lag p50 %v ms above p99 %v ms", results[2].Value, results[3].Value)
	}
}
