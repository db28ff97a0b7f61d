package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"

	"selfcare/commands"
)

const operatorsUsage = `usage: selfcare operators add NAME --role admin|auditor
       selfcare operators list
       selfcare operators revoke NAME

Manages the named accounts of the back office (admin) and of auditors.
add prints the account's bearer token once: it is stored hashed. The
account's name is the actor that events record for what it does; revoke
stops its token at once. SELFCARE_ADMIN_TOKEN and SELFCARE_AUDITOR_TOKEN
keep working as a bootstrap, recorded as bootstrap-admin and
bootstrap-auditor.`

func runOperators(ctx context.Context, args []string, logger *slog.Logger) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		return usageError(operatorsUsage)
	}
	srv, db, err := build(ctx, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)
	ctx = commands.WithActor(ctx, commands.Actor{Kind: commands.ActorSystem, Login: "system:cli"})
	return operatorsCommand(ctx, srv.Operators, args, os.Stdout)
}

// operatorsCommand runs "operators <args>".
func operatorsCommand(ctx context.Context, ops *commands.Operators, args []string, out io.Writer) error {
	switch args[0] {
	case "add":
		if len(args) < 2 {
			return usageError(operatorsUsage)
		}
		flags := flag.NewFlagSet("selfcare operators add", flag.ContinueOnError)
		flags.SetOutput(io.Discard)
		role := flags.String("role", "", "admin or auditor")
		if err := flags.Parse(args[2:]); err != nil || flags.NArg() > 0 || *role == "" {
			return usageError(operatorsUsage)
		}
		token, err := ops.Add(ctx, args[1], *role)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "name: %s\nrole: %s\ntoken: %s\n(the token is shown this once: hand it to its owner)\n", args[1], *role, token)
		return nil
	case "list":
		if len(args) != 1 {
			return usageError(operatorsUsage)
		}
		list, err := ops.List(ctx)
		if err != nil {
			return err
		}
		for _, o := range list {
			state := "active"
			if o.RevokedAt != nil {
				state = "revoked " + o.RevokedAt.UTC().Format("2006-01-02T15:04:05Z")
			}
			fmt.Fprintf(out, "%s\t%s\tcreated %s\t%s\n", o.Name, o.Role, o.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"), state)
		}
		return nil
	case "revoke":
		if len(args) != 2 {
			return usageError(operatorsUsage)
		}
		if err := ops.Revoke(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "revoked %s\n", args[1])
		return nil
	}
	return usageError(operatorsUsage)
}
