package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"selfcare/internal/testkit"
)

// TestOperatorsCommand runs "selfcare operators add|list|revoke" the way
// an operator would, on a live server's database: the printed token works
// over HTTP at once, names its holder in the events, is stored only
// hashed, and stops working the moment it is revoked.
func TestOperatorsCommand(t *testing.T) {
	env := testkit.New(t)
	t.Setenv("DATABASE_URL", env.Pool.Config().ConnString())
	t.Setenv("SELFCARE_SECRET", "cli-test-secret-0123456789abcdef0123")
	t.Setenv("SELFCARE_DATA_DIR", t.TempDir())
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := operatorsCommand(ctx, args, logger, &out)
		return out.String(), err
	}

	out, err := run("add", "carol", "--role", "admin")
	if err != nil {
		t.Fatalf("add: %v", err)
	}
	token := regexp.MustCompile(`(?m)^(op_[A-Za-z0-9_-]{43})$`).FindStringSubmatch(out)
	if token == nil {
		t.Fatalf("add printed no token: %q", out)
	}
	var hashed, clear int
	if err := env.Pool.QueryRow(ctx, `SELECT count(*) FILTER (WHERE token_hash = sha256(convert_to($1, 'UTF8'))),
       count(*) FILTER (WHERE o::text LIKE '%' || $1 || '%') FROM operators o`, token[1]).Scan(&hashed, &clear); err != nil || hashed != 1 || clear != 0 {
		t.Fatalf("stored hashed: %d, in clear: %d (%v)", hashed, clear, err)
	}
	if _, err := run("add", "dave", "--role", "auditor"); err != nil {
		t.Fatalf("add auditor: %v", err)
	}

	login := testkit.Unique("cli.")
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", token[1], testkit.ContractBody("CLI", login)), http.StatusCreated)
	var actor string
	if err := env.Pool.QueryRow(ctx, `SELECT metadata->>'actor' FROM events WHERE event_type = 'ContractCreated' ORDER BY position DESC LIMIT 1`).Scan(&actor); err != nil || actor != "carol" {
		t.Fatalf("ContractCreated by %q (%v), want carol", actor, err)
	}

	var ue usageError
	for _, args := range [][]string{
		{"add", "carol", "--role", "admin"},           // taken
		{"add", "erin", "--role", "root"},             // no such role
		{"add", "bootstrap-admin", "--role", "admin"}, // reserved
		{"add", "Bad Name", "--role", "admin"},
		{"add", "erin"},
		{"revoke", "nobody"},
		{"frobnicate"},
	} {
		if _, err := run(args...); !errors.As(err, &ue) {
			t.Errorf("%v: %v, want a usage error", args, err)
		}
	}

	out, err = run("list")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], "carol ") || !strings.Contains(lines[1], "admin") ||
		!strings.HasPrefix(lines[2], "dave ") || !strings.Contains(lines[2], "auditor") || !strings.HasSuffix(lines[1], "-") {
		t.Fatalf("list:\n%s", out)
	}

	if _, err := run("revoke", "carol"); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", token[1], testkit.ContractBody("Late", testkit.Unique("late."))), http.StatusUnauthorized)
	out, _ = run("list")
	if l := strings.Split(out, "\n")[1]; strings.HasSuffix(strings.TrimSpace(l), "-") {
		t.Fatalf("carol is not shown revoked: %q", l)
	}
	if _, err := run("revoke", "carol"); !errors.As(err, &ue) {
		t.Fatalf("revoked twice: %v", err)
	}
}
