package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"

	"selfcare/internal/config"
)

// commandUsages is each command's usage, printed by `selfcare help CMD`
// and by -h, --help or help anywhere in its arguments. A command missing
// here gets the general usage.
var commandUsages = map[string]string{
	"serve":       "usage: selfcare serve\n\nApplies the migrations, then serves the API and the web UI on SELFCARE_ADDR.\nConfiguration: environment variables, see README.md.",
	"migrate":     "usage: selfcare migrate\n\nApplies the database migrations and exits.",
	"projections": "usage: selfcare projections rebuild [--force] [NAME]\n\nRebuilds one read model (or all) from the events.",
	"audit":       auditUsage,
	"bench":       benchUsage,
	"db":          dbUsage,
	"oidc":        oidcUsage,
	"operators":   operatorsUsage,
}

// isHelp tells whether a command-line word asks for help.
func isHelp(arg string) bool {
	return arg == "-h" || arg == "--help" || arg == "-help" || arg == "help"
}

// helpFor returns the usage asked for by `selfcare CMD ARGS...`, and
// whether help was asked for at all: `selfcare help [CMD]`, or -h, --help
// or help among a command's arguments.
func helpFor(cmd string, args []string) (string, bool) {
	if isHelp(cmd) {
		if len(args) > 0 {
			if u, ok := commandUsages[args[0]]; ok {
				return u, true
			}
		}
		return usage, true
	}
	if !slices.ContainsFunc(args, isHelp) {
		return "", false
	}
	if u, ok := commandUsages[cmd]; ok {
		return u, true
	}
	return usage, true
}

// newLogger logs to w as text a person reads when w is a terminal, as
// JSON lines otherwise; SELFCARE_LOG_FORMAT=text|json chooses.
func newLogger(w *os.File) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: slog.LevelInfo}
	format := strings.ToLower(os.Getenv("SELFCARE_LOG_FORMAT"))
	if format == "" {
		format = "json"
		if fi, err := w.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("SELFCARE_LOG_FORMAT=%q: want text or json", format)
}

// printStartHints tells, once the server listens, where to open the UI
// and how to create a first contract (make run asks for it with
// SELFCARE_START_HINTS=1).
func printStartHints(w io.Writer, cfg config.Config, addr string) {
	if os.Getenv("SELFCARE_START_HINTS") != "1" {
		return
	}
	url := "http://" + addr + "/"
	token := "$SELFCARE_ADMIN_TOKEN"
	if cfg.AdminToken == "" {
		token = "<token>"
	}
	mail := "written as .eml files under " + cfg.DataDir + "/mail/"
	if cfg.SMTPAddr != "" {
		mail = "sent through the SMTP relay " + cfg.SMTPAddr
	}
	fmt.Fprintf(w, "\n  selfcare is running.\n\n  Open the customer area:  %s\n\n", url)
	if cfg.AdminToken == "" {
		fmt.Fprintf(w, "  To create a first contract, restart with SELFCARE_ADMIN_TOKEN set (16 characters or more), then:\n")
	} else {
		fmt.Fprintf(w, "  Create a first contract (in another terminal, with the same SELFCARE_ADMIN_TOKEN):\n")
	}
	fmt.Fprintf(w, "    curl -s -X POST %sapi/v1/admin/contracts -H 'Authorization: Bearer %s' \\\n", url, token)
	fmt.Fprintf(w, "      -H 'Content-Type: application/json' -d @docs/first-contract.json\n\n")
	fmt.Fprintf(w, "  Its referent's access email, with the link to set a password, is %s.\n\n", mail)
}
