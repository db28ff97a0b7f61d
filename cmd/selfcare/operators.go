package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"selfcare/commands"
	"selfcare/domain"
)

const operatorsUsage = `usage: selfcare operators add NAME --role admin|auditor
       selfcare operators list
       selfcare operators revoke NAME

Named back-office operators (role admin) and auditors (role auditor). add
prints the new operator's bearer token once: it is stored only hashed and
cannot be shown again. The events an operator causes name them. revoke
ends the token at once; a revoked name is not reused.`

func runOperators(ctx context.Context, args []string, logger *slog.Logger) error {
	return operatorsCommand(ctx, args, logger, os.Stdout)
}

func operatorsCommand(ctx context.Context, args []string, logger *slog.Logger, out io.Writer) error {
	if len(args) == 0 {
		return usageError(operatorsUsage)
	}
	var name, role string
	switch args[0] {
	case "add":
		flags := flag.NewFlagSet("selfcare operators add", flag.ContinueOnError)
		flags.SetOutput(io.Discard)
		flags.StringVar(&role, "role", "", "admin or auditor")
		rest := args[1:]
		if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
			name, rest = rest[0], rest[1:]
		}
		if err := flags.Parse(rest); err != nil {
			return usageError(operatorsUsage)
		}
		if name == "" && flags.NArg() == 1 {
			name = flags.Arg(0)
		} else if flags.NArg() > 0 {
			return usageError(operatorsUsage)
		}
		if name == "" || role == "" {
			return usageError(operatorsUsage)
		}
	case "list":
		if len(args) != 1 {
			return usageError(operatorsUsage)
		}
	case "revoke":
		if len(args) != 2 {
			return usageError(operatorsUsage)
		}
		name = args[1]
	default:
		return usageError(operatorsUsage)
	}

	srv, db, err := build(ctx, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)
	ops := &commands.Operators{App: srv.App}
	switch args[0] {
	case "add":
		token, err := ops.Add(ctx, name, role)
		var ve *domain.ValidationError
		if errors.As(err, &ve) || errors.Is(err, domain.ErrConflict) {
			return usageError(err.Error())
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "operator %s added with role %s; its bearer token, shown only this once:\n%s\n", name, role, token)
	case "list":
		list, err := ops.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tCREATED\tREVOKED")
		for _, op := range list {
			revoked := "-"
			if op.RevokedAt != nil {
				revoked = op.RevokedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", op.Name, op.Role, op.CreatedAt.UTC().Format(time.RFC3339), revoked)
		}
		return tw.Flush()
	case "revoke":
		if err := ops.Revoke(ctx, name); err != nil {
			if errors.Is(err, domain.ErrNotFound) {
				return usageError(err.Error())
			}
			return err
		}
		fmt.Fprintf(out, "operator %s revoked: its token no longer works\n", name)
	}
	return nil
}
