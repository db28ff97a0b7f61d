package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"selfcare/internal/oidcop"
)

const oidcUsage = `usage: selfcare oidc clients add --id ID --redirect-uri URI [--redirect-uri URI...]
                                [--post-logout-uri URI...] [--initiate-login-uri URI] [--name NAME]
       selfcare oidc clients list
       selfcare oidc clients remove ID

Registers the relying parties (the cloud console) of the customer area's
OpenID provider. add prints the client secret once: it is stored hashed.
Redirect URIs match exactly. --initiate-login-uri is the console's
third-party-initiated login endpoint, opened by the "Access the technical
console" button.`

// uris is a repeatable flag.
type uris []string

func (u *uris) String() string     { return strings.Join(*u, " ") }
func (u *uris) Set(s string) error { *u = append(*u, s); return nil }

func runOIDC(ctx context.Context, args []string, logger *slog.Logger) error {
	if len(args) < 2 || args[0] != "clients" {
		return usageError(oidcUsage)
	}
	srv, db, err := build(ctx, logger, false)
	if err != nil {
		return err
	}
	defer db.close(logger)
	return clientsCommand(ctx, srv.OIDC.Clients, args[1:], os.Stdout)
}

// clientsCommand runs "oidc clients <args>" on the registry.
func clientsCommand(ctx context.Context, clients oidcop.Clients, args []string, out io.Writer) error {
	switch args[0] {
	case "add":
		flags := flag.NewFlagSet("selfcare oidc clients add", flag.ContinueOnError)
		flags.SetOutput(io.Discard)
		var c oidcop.Client
		var redirect, postLogout uris
		flags.StringVar(&c.ID, "id", "", "client id")
		flags.StringVar(&c.Name, "name", "", "display name")
		flags.StringVar(&c.InitiateLoginURI, "initiate-login-uri", "", "third-party-initiated login URI")
		flags.Var(&redirect, "redirect-uri", "redirect URI (repeatable)")
		flags.Var(&postLogout, "post-logout-uri", "post-logout redirect URI (repeatable)")
		if err := flags.Parse(args[1:]); err != nil || flags.NArg() > 0 || c.ID == "" || len(redirect) == 0 {
			return usageError(oidcUsage)
		}
		c.RedirectURIs, c.PostLogoutURIs = redirect, postLogout
		secret, err := clients.Add(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "client_id: %s\nclient_secret: %s\n(the secret is shown this once: store it in the console's configuration)\n", c.ID, secret)
		return nil
	case "list":
		if len(args) != 1 {
			return usageError(oidcUsage)
		}
		list, err := clients.List(ctx)
		if err != nil {
			return err
		}
		for _, c := range list {
			fmt.Fprintf(out, "%s\tname=%q\tredirect_uris=%s\tpost_logout_uris=%s\tinitiate_login_uri=%s\tcreated=%s\n",
				c.ID, c.Name, strings.Join(c.RedirectURIs, ","), strings.Join(c.PostLogoutURIs, ","), c.InitiateLoginURI,
				c.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
		}
		return nil
	case "remove":
		if len(args) != 2 {
			return usageError(oidcUsage)
		}
		if err := clients.Remove(ctx, args[1]); err != nil {
			return err
		}
		fmt.Fprintf(out, "removed %s (its access tokens are revoked)\n", args[1])
		return nil
	}
	return usageError(oidcUsage)
}
