package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"
)

func runProjections(ctx context.Context, args []string, logger *slog.Logger) error {
	force := len(args) > 1 && args[1] == "--force"
	if force {
		args = append(args[:1:1], args[2:]...)
	}
	if len(args) < 1 || args[0] != "rebuild" || len(args) > 2 {
		return usageError("usage: selfcare projections rebuild [--force] [NAME]")
	}
	name := ""
	if len(args) == 2 {
		name = args[1]
	}
	srv, db, err := build(ctx, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)
	if err := guardChainRebuild(ctx, srv, name, force, os.Stdout); err != nil {
		return err
	}
	last := time.Time{}
	return srv.Runner.Rebuild(ctx, name, func(projector string, applied, total int64) {
		if time.Since(last) < 500*time.Millisecond && applied < total {
			return
		}
		last = time.Now()
		pct := 100.0
		if total > 0 {
			pct = float64(applied) * 100 / float64(total)
		}
		fmt.Fprintf(os.Stdout, "rebuild %s: %d/%d events (%.0f%%)\n", projector, applied, total, pct)
	})
}
