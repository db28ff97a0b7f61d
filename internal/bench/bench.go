// Package bench measures selfcare's event store on a PostgreSQL server
// against what the same server does without it: appends beside raw
// INSERTs of the same rows, and how soon a read model shows an append.
package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/eventstore"
	"selfcare/internal/clock"
)

// Env is what measurements run on: a fresh, migrated database that they
// may fill, and how long each measurement lasts.
type Env struct {
	Pool     *pgxpool.Pool // with connections for the most concurrent measurement
	Store    *eventstore.Store
	Duration time.Duration
	Logger   *slog.Logger
}

// NewEnv returns an environment on pool.
func NewEnv(pool *pgxpool.Pool, duration time.Duration, logger *slog.Logger) *Env {
	return &Env{Pool: pool, Store: eventstore.New(pool, clock.Real{}), Duration: duration, Logger: logger}
}

// A Measurement is one named thing to measure; it may report several
// figures (a p50 and a p99, say).
type Measurement struct {
	Name string
	Run  func(ctx context.Context, env *Env) ([]Result, error)
}

// Result is one figure: the event store's value beside, when there is
// one, the baseline of plain PostgreSQL doing the same work, and the
// target it should meet.
type Result struct {
	Name     string
	Unit     string
	Value    float64
	Baseline float64 // 0: no baseline
	Target   Target
	Note     string
}

// Ratio is Value over Baseline (0 without a baseline).
func (r Result) Ratio() float64 {
	if r.Baseline == 0 {
		return 0
	}
	return r.Value / r.Baseline
}

// Target is what a result should reach.
type Target struct {
	// Text says it for the table: "ratio ≥ 0.8", "< 50 ms".
	Text string
	Met  func(Result) bool
}

// MinRatio is met when Value/Baseline is at least min.
func MinRatio(min float64) Target {
	return Target{Text: fmt.Sprintf("ratio ≥ %.2g", min), Met: func(r Result) bool { return r.Ratio() >= min }}
}

// AtLeast is met when Value is at least min (in the result's unit).
func AtLeast(min float64, unit string) Target {
	return Target{Text: fmt.Sprintf("≥ %g %s", min, unit), Met: func(r Result) bool { return r.Value >= min }}
}

// Below is met when Value is below max (in the result's unit).
func Below(max float64, unit string) Target {
	return Target{Text: fmt.Sprintf("< %g %s", max, unit), Met: func(r Result) bool { return r.Value < max }}
}

// Run runs measurements in order, printing each result as it comes, and
// returns them all. It stops at the first measurement that fails.
func Run(ctx context.Context, env *Env, measurements []Measurement, out io.Writer) ([]Result, error) {
	fmt.Fprintln(out, row("measurement", "event store", "baseline (raw)", "ratio", "target", "", ""))
	var all []Result
	for _, m := range measurements {
		if err := ctx.Err(); err != nil {
			return all, err
		}
		env.Logger.Info("bench: measuring", "measurement", m.Name, "duration", env.Duration)
		results, err := m.Run(ctx, env)
		if err != nil {
			return all, fmt.Errorf("bench %s: %w", m.Name, err)
		}
		for _, r := range results {
			fmt.Fprintln(out, resultRow(r))
		}
		all = append(all, results...)
	}
	targets, met := 0, 0
	for _, r := range all {
		if r.Target.Met != nil {
			targets++
			if r.Target.Met(r) {
				met++
			}
		}
	}
	fmt.Fprintf(out, "\n%d of %d targets met.\n", met, targets)
	return all, nil
}

// Rows are printed as results come, so columns have fixed widths.
func row(name, value, baseline, ratio, target, verdict, note string) string {
	return strings.TrimRight(fmt.Sprintf("%-44s %16s %16s %6s  %-12s %-7s %s", name, value, baseline, ratio, target, verdict, note), " ")
}

func resultRow(r Result) string {
	baseline, ratio := "", ""
	if r.Baseline != 0 {
		baseline = format(r.Baseline, r.Unit)
		ratio = fmt.Sprintf("%.2f", r.Ratio())
	}
	verdict := ""
	if r.Target.Met != nil {
		verdict = "ok"
		if !r.Target.Met(r) {
			verdict = "MISSED"
		}
	}
	return row(r.Name, format(r.Value, r.Unit), baseline, ratio, r.Target.Text, verdict, r.Note)
}

func format(v float64, unit string) string {
	switch {
	case math.IsNaN(v):
		return "n/a"
	case v >= 100:
		return fmt.Sprintf("%.0f %s", v, unit)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}

// Settings describes the machine and the server settings that matter to
// the figures.
func Settings(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "machine: %d CPUs (GOMAXPROCS %d), %s/%s, %s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.GOOS, runtime.GOARCH, runtime.Version())
	if load, err := os.ReadFile("/proc/loadavg"); err == nil {
		// Other work on the machine weighs on every figure.
		fmt.Fprintf(&b, ", load average %s", strings.Join(strings.Fields(string(load))[:3], " "))
	}
	fmt.Fprintln(&b)
	var version string
	if err := pool.QueryRow(ctx, `SELECT version()`).Scan(&version); err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "server:  %s\n", version)
	var settings []string
	for _, name := range []string{"fsync", "synchronous_commit", "full_page_writes", "wal_sync_method", "commit_delay", "shared_buffers", "max_wal_size", "max_connections"} {
		var v string
		if err := pool.QueryRow(ctx, `SELECT current_setting($1)`, name).Scan(&v); err != nil {
			return "", err
		}
		settings = append(settings, name+"="+v)
	}
	fmt.Fprintf(&b, "settings: %s\n", strings.Join(settings, " "))
	return b.String(), nil
}

// quiet is logger showing warnings and errors only: the servers the bench
// runs log every request and every email at info level, which would bury
// the table.
func quiet(logger *slog.Logger) *slog.Logger {
	return slog.New(minLevel{Handler: logger.Handler(), min: slog.LevelWarn})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(attrs), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
