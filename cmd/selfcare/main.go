// Command selfcare is the cloud customer area's server and its tools:
//
//	selfcare serve                       apply migrations, then serve
//	selfcare migrate                     apply migrations
//	selfcare projections rebuild [--force] [NAME]  rebuild read models from the events
//	selfcare audit verify [--anchor P:H]           check that the event log was not altered
//	selfcare bench                       measure the event store against raw INSERTs
//	selfcare db start|stop|url           manage the embedded PostgreSQL cluster
//	selfcare oidc clients add|list|remove  register the console with the OpenID provider
//	selfcare operators add|list|revoke     named back-office and auditor accounts
//
// Configuration comes from the environment (see README.md).
package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

const usage = `usage: selfcare <command> [arguments]

commands:
  serve                       apply migrations, then serve HTTP
  migrate                     apply migrations and exit
  projections rebuild [--force] [NAME]
                              rebuild one read model (or all) from the events
  audit verify [--anchor P:H] verify the event log's hash chain
  bench                       benchmark the event store (prints ratios to raw INSERTs)
  db start|stop|url           manage the embedded PostgreSQL cluster
  oidc clients add|list|remove
                              register the console (relying party) with the OpenID provider
  operators add NAME --role admin|auditor | list | revoke NAME
                              named back-office and auditor accounts (token shown once)

configuration: environment variables, see README.md`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, usage)
		os.Exit(2)
	}
	if text, ok := helpFor(os.Args[1], os.Args[2:]); ok {
		fmt.Println(text)
		return
	}
	logger, err := newLogger(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	slog.SetDefault(logger)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	startPprof(logger)
	args := os.Args[2:]
	switch os.Args[1] {
	case "serve":
		err = runServe(ctx, logger)
	case "migrate":
		err = runMigrate(ctx, logger)
	case "projections":
		err = runProjections(ctx, args, logger)
	case "audit":
		err = runAudit(ctx, args, logger)
	case "bench":
		err = runBench(ctx, args, logger)
	case "db":
		err = runDB(ctx, args, logger)
	case "oidc":
		err = runOIDC(ctx, args, logger)
	case "operators":
		err = runOperators(ctx, args, logger)
	default:
		err = fmt.Errorf("unknown command %q\n\n%s", os.Args[1], usage)
	}
	if err != nil {
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		logger.Error("selfcare failed", "command", os.Args[1], "err", err)
		os.Exit(1)
	}
}

// usageError is a mistake in the command line.
type usageError string

func (e usageError) Error() string { return string(e) }
