package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"selfcare/internal/pgcluster"
)

const dbUsage = `usage:
  selfcare db start [--dir D] [--test]   start (or reuse) the local cluster in D and print its admin URL
  selfcare db stop  [--dir D]            stop it
  selfcare db url   [--dir D]            print the admin URL of the running cluster
D defaults to $SELFCARE_DATA_DIR/pg ($SELFCARE_DATA_DIR defaults to ./.selfcare).`

// runDB runs "selfcare db ...": the embedded PostgreSQL cluster on its own,
// for make test and for poking at the data with psql. Only the URL goes to
// stdout, so scripts can capture it.
func runDB(ctx context.Context, args []string, logger *slog.Logger) error {
	if len(args) == 0 {
		return errors.New(dbUsage)
	}
	command, args := args[0], args[1:]
	flags := flag.NewFlagSet("selfcare db "+command, flag.ContinueOnError)
	flags.SetOutput(io.Discard) // the error returned says what was wrong
	dir := flags.String("dir", defaultClusterDir(), "cluster directory")
	testSettings := false
	if command == "start" {
		flags.BoolVar(&testSettings, "test", false, "fast, non-durable settings for throwaway test clusters")
	}
	if err := flags.Parse(args); err != nil {
		return fmt.Errorf("%w\n%s", err, dbUsage)
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q\n%s", flags.Args(), dbUsage)
	}
	opts := pgcluster.Options{Dir: *dir, Logger: logger}

	switch command {
	case "start":
		if testSettings {
			opts.Settings = pgcluster.TestSettings()
		}
		cluster, err := pgcluster.Start(ctx, opts)
		if err != nil {
			return err
		}
		fmt.Println(cluster.URLFor("postgres"))
		return nil
	case "stop":
		cluster, err := pgcluster.Attach(ctx, opts)
		if errors.Is(err, pgcluster.ErrNotRunning) {
			logger.Info("no PostgreSQL server running", "dir", *dir)
			return nil
		}
		if err != nil {
			return err
		}
		return cluster.Stop(ctx)
	case "url":
		cluster, err := pgcluster.Attach(ctx, opts)
		if err != nil {
			return fmt.Errorf("%w (start it with: selfcare db start --dir %s)", err, *dir)
		}
		fmt.Println(cluster.URLFor("postgres"))
		return nil
	default:
		return fmt.Errorf("unknown command %q\n%s", "db "+command, dbUsage)
	}
}

// defaultClusterDir is $SELFCARE_DATA_DIR/pg, the cluster selfcare serve uses
// when DATABASE_URL is unset.
func defaultClusterDir() string {
	dataDir := os.Getenv("SELFCARE_DATA_DIR")
	if dataDir == "" {
		dataDir = ".selfcare"
	}
	return filepath.Join(dataDir, "pg")
}
