package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/secrets"
	"selfcare/internal/server"
	"selfcare/projections/audit"
)

const auditUsage = `usage: selfcare audit verify [--anchor POSITION:HASH]

Recomputes the hash chain of the event log and compares it with the stored
one. Prints one line; exits 1 if the log was altered. --anchor checks that
the chain still passes through a head recorded earlier (head_position:head_hash).`

// errLogAltered is returned when verification finds an alteration.
var errLogAltered = errors.New("the event log was altered")

func runAudit(ctx context.Context, args []string, logger *slog.Logger) error {
	return auditCommand(ctx, args, logger, os.Stdout)
}

func auditCommand(ctx context.Context, args []string, logger *slog.Logger, out io.Writer) error {
	if len(args) < 1 || args[0] != "verify" {
		return usageError(auditUsage)
	}
	flags := flag.NewFlagSet("selfcare audit verify", flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	anchorFlag := flags.String("anchor", "", "POSITION:HASH of an earlier verification's head")
	if err := flags.Parse(args[1:]); err != nil || flags.NArg() > 0 {
		return usageError(auditUsage)
	}
	var anchor *audit.Anchor
	if *anchorFlag != "" {
		a, err := audit.ParseAnchor(*anchorFlag)
		if err != nil {
			return usageError("--anchor: want POSITION:HASH (head_position:head_hash of an earlier verification)")
		}
		anchor = &a
	}
	srv, db, err := build(ctx, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)
	return verifyLog(ctx, srv.Pool, srv.Keys, anchor, out)
}

// verifyLog verifies the event log and prints one line about it; it
// returns errLogAltered when the log was altered.
func verifyLog(ctx context.Context, pool *pgxpool.Pool, keys *secrets.Keys, anchor *audit.Anchor, out io.Writer) error {
	rep, err := audit.Verify(ctx, pool, keys.Derive(audit.ChainKeyPurpose), anchor)
	if err != nil {
		return err
	}
	if !rep.OK {
		hint := ""
		if rep.EventsChecked == 0 && rep.Problem == audit.ProblemAltered {
			hint = " (or this is not the server's secret: check SELFCARE_SECRET or the data directory)"
		}
		fmt.Fprintf(out, "audit verify: ALTERED: first bad position %d (%s); %d events verified before it%s\n",
			*rep.FirstBadPosition, describeProblem(rep.Problem), rep.EventsChecked, hint)
		return errLogAltered
	}
	line := fmt.Sprintf("audit verify: ok: %d events verified", rep.EventsChecked)
	if rep.EventsChecked > 0 {
		line += fmt.Sprintf(", head %d:%s", rep.HeadPosition, rep.HeadHash)
	}
	if anchor != nil {
		line += fmt.Sprintf(", anchor %d matches", anchor.Position)
	}
	if rep.EventsNotChecked > 0 {
		line += fmt.Sprintf("; %d events not chained yet, not checked (is selfcare serve running?)", rep.EventsNotChecked)
	}
	fmt.Fprintln(out, line)
	return nil
}

func describeProblem(p string) string {
	switch p {
	case audit.ProblemAltered:
		return "the event or its link was changed"
	case audit.ProblemMissing:
		return "a chained event was deleted"
	case audit.ProblemInserted:
		return "an event was inserted among chained ones"
	case audit.ProblemAnchorMismatch:
		return "the chain no longer passes through the anchor"
	}
	return p
}

// guardChainRebuild refuses to rebuild the audit chain (named, or all read
// models) over a log that fails verification: the rebuild would re-seal
// the alteration. --force overrides, after an investigation.
func guardChainRebuild(ctx context.Context, srv *server.Server, name string, force bool, out io.Writer) error {
	if force || (name != "" && name != audit.ChainName) {
		return nil
	}
	err := verifyLog(ctx, srv.Pool, srv.Keys, nil, out)
	if errors.Is(err, errLogAltered) {
		return fmt.Errorf("refusing to rebuild %s: it would re-seal an altered event log; investigate, then pass --force", audit.ChainName)
	}
	return err
}
