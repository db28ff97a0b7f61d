package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/bench"
	"selfcare/migrations"
)

const benchUsage = `usage: selfcare bench [-duration D] [-only TEXT[|TEXT...]] [-scale [N]] [-cpuprofile FILE]
Measures the event store on the configured PostgreSQL (DATABASE_URL, or the
embedded cluster), in a database created for the run and dropped after it.

-scale [N] seeds a realistic history of N events (default 1000000) through
the domain instead, starts a server on it and measures it at that size:
commands on long streams beside fresh ones, orders over HTTP, pages,
rebuilds, memory and bytes per event.`

// runBench runs "selfcare bench": the event store against raw INSERTs and
// the projection lag, on PostgreSQL with its production settings.
func runBench(ctx context.Context, args []string, logger *slog.Logger) error {
	flags, duration, only, scale := benchFlags()
	cpuProfile := flags.String("cpuprofile", "", "write a CPU profile of the whole run to this file (go tool pprof reads it)")
	memProfile := flags.String("memprofile", "", "write the run's allocations to this file at its end (go tool pprof -sample_index=alloc_space reads it)")
	if err := flags.Parse(scaleArgs(args)); err != nil || flags.NArg() > 0 || *duration <= 0 {
		return usageError(benchUsage)
	}
	measurements := bench.Default()
	closeScale := func() {}
	if *scale > 0 {
		measurements, closeScale = bench.Scale(int(*scale))
	}
	if *only != "" {
		var kept []bench.Measurement
		for _, m := range measurements {
			for _, text := range strings.Split(*only, "|") {
				if text != "" && strings.Contains(m.Name, text) {
					kept = append(kept, m)
					break
				}
			}
		}
		if len(kept) == 0 {
			return usageError(fmt.Sprintf("selfcare bench: no measurement matches %q", *only))
		}
		measurements = kept
	}

	cfg, err := loadConfig(logger)
	if err != nil {
		return err
	}
	db, err := openDatabase(ctx, cfg, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)

	pool, drop, err := benchDatabase(ctx, db.pool, logger)
	if err != nil {
		return err
	}
	defer drop()
	defer closeScale() // its server stops before the database goes
	settings, err := bench.Settings(ctx, pool)
	if err != nil {
		return err
	}
	if *scale > 0 {
		fmt.Printf("%s%d events seeded in a fresh database, %d s per timed measurement\n\n", settings, int(*scale), int(duration.Seconds()))
	} else {
		fmt.Printf("%s%d s per measurement, fresh database\n\n", settings, int(duration.Seconds()))
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	_, err = bench.Run(ctx, bench.NewEnv(pool, *duration, logger), measurements, os.Stdout)
	if err == nil && *memProfile != "" {
		err = writeHeapProfile(*memProfile)
	}
	return err
}

// writeHeapProfile writes the allocations made since the program started.
func writeHeapProfile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchFlags are the flags of "selfcare bench".
func benchFlags() (flags *flag.FlagSet, duration *time.Duration, only *string, scale *scaleFlag) {
	flags = flag.NewFlagSet("selfcare bench", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	duration = flags.Duration("duration", 4*time.Second, "how long each measurement runs")
	only = flags.String("only", "", "run only the measurements whose name contains this text (or one of several, separated by |)")
	scale = new(scaleFlag)
	flags.Var(scale, "scale", "seed a history of N events (default 1000000) and measure at that size")
	return flags, duration, only, scale
}

// scaleFlag is -scale's N: -scale alone means bench.DefaultScale events.
type scaleFlag int

func (f *scaleFlag) String() string { return strconv.Itoa(int(*f)) }

func (f *scaleFlag) Set(v string) error {
	if v == "true" {
		*f = bench.DefaultScale
		return nil
	}
	n, err := strconv.Atoi(strings.NewReplacer("_", "", ",", "").Replace(v))
	if err != nil || n < 1000 {
		return fmt.Errorf("-scale: %q is not a number of events (at least 1000)", v)
	}
	*f = scaleFlag(n)
	return nil
}

// IsBoolFlag lets -scale stand alone.
func (f *scaleFlag) IsBoolFlag() bool { return true }

// scaleArgs reads "-scale N" as "-scale=N": the flag package takes a
// flag that may stand alone to have no separate value.
func scaleArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if (a == "-scale" || a == "--scale") && i+1 < len(args) && args[i+1] != "" && args[i+1][0] >= '0' && args[i+1][0] <= '9' {
			out = append(out, a+"="+args[i+1])
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// benchDatabase creates a database for the run beside the one admin is
// connected to, migrates it and returns a pool on it with room for the
// most concurrent measurement, and how to drop it.
func benchDatabase(ctx context.Context, admin *pgxpool.Pool, logger *slog.Logger) (*pgxpool.Pool, func(), error) {
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return nil, nil, err
	}
	name := "selfcare_bench_" + hex.EncodeToString(suffix)
	ident := pgx.Identifier{name}.Sanitize()
	if _, err := admin.Exec(ctx, `CREATE DATABASE `+ident); err != nil {
		return nil, nil, fmt.Errorf("create the bench database (the role needs CREATEDB): %w", err)
	}
	drop := func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if _, err := admin.Exec(ctx, `DROP DATABASE IF EXISTS `+ident+` WITH (FORCE)`); err != nil {
			logger.Error("drop the bench database", "database", name, "err", err)
		}
	}
	cfg := admin.Config()
	cfg.ConnConfig.Database = name
	cfg.MaxConns = 40
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err == nil {
		err = migrations.Up(ctx, pool)
	}
	if err != nil {
		if pool != nil {
			pool.Close()
		}
		drop()
		return nil, nil, err
	}
	return pool, func() { pool.Close(); drop() }, nil
}
