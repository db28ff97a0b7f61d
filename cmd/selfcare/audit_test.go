package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"selfcare/internal/secrets"
	"selfcare/internal/server"
	"selfcare/internal/testkit"
)

// TestAuditVerifyCommand runs "selfcare audit verify" and the rebuild
// guard the way an operator would, on a live server's database.
func TestAuditVerifyCommand(t *testing.T) {
	const secret = "cli-test-secret-0123456789abcdef0123"
	keys, err := secrets.FromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	env := testkit.New(t, func(o *server.Options) { o.Keys = keys })
	c := env.NewContract("Verified")
	if _, err := env.History().PlaceOrder(testkit.UserActor(c.ReferentLogin), c.ID, "PS104", nil); err != nil {
		t.Fatal(err)
	}
	env.SettleReadModels() // the chain seals the order before the test alters it
	t.Setenv("DATABASE_URL", env.Pool.Config().ConnString())
	t.Setenv("SELFCARE_SECRET", secret)
	t.Setenv("SELFCARE_DATA_DIR", t.TempDir())
	ctx := context.Background()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	verify := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := auditCommand(ctx, append([]string{"verify"}, args...), logger, &out)
		return out.String(), err
	}

	out, err := verify()
	head := regexp.MustCompile(`head (\d+:[0-9a-f]{64})`).FindStringSubmatch(out)
	if err != nil || !strings.HasPrefix(out, "audit verify: ok: ") || head == nil {
		t.Fatalf("untouched log: %q, %v", out, err)
	}
	if out, err := verify("--anchor", head[1]); err != nil || !strings.Contains(out, "matches") {
		t.Fatalf("against its own head: %q, %v", out, err)
	}
	var ue usageError
	if _, err := verify("--anchor", "nonsense"); !errors.As(err, &ue) {
		t.Fatalf("a malformed anchor: %v", err)
	}

	// Verified under another secret, no link matches.
	t.Setenv("SELFCARE_SECRET", "another-secret-0123456789abcdef01234")
	if out, err := verify(); !errors.Is(err, errLogAltered) {
		t.Fatalf("verified with another key: %q, %v", out, err)
	}
	t.Setenv("SELFCARE_SECRET", secret)

	var pos int64
	if err := env.Pool.QueryRow(ctx, `SELECT position FROM events WHERE event_type = 'OrderPlaced'`).Scan(&pos); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{
		`ALTER TABLE events DISABLE TRIGGER USER`,
		`UPDATE events SET data = jsonb_set(data, '{price,amount}', '"0.01"') WHERE event_type = 'OrderPlaced'`,
		`ALTER TABLE events ENABLE TRIGGER USER`,
	} {
		if _, err := env.Pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	out, err = verify()
	if !errors.Is(err, errLogAltered) || !strings.Contains(out, "ALTERED: first bad position "+strconv.FormatInt(pos, 10)) {
		t.Fatalf("altered log: %q, %v", out, err)
	}

	// Rebuilding the chain would re-seal the alteration: refused unless forced.
	if err := runProjections(ctx, []string{"rebuild", "audit_chain"}, logger); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("rebuild over an altered log: %v", err)
	}
	if err := runProjections(ctx, []string{"rebuild"}, logger); err == nil || !strings.Contains(err.Error(), "refusing") {
		t.Fatalf("rebuild of everything over an altered log: %v", err)
	}
	if _, err := verify(); !errors.Is(err, errLogAltered) {
		t.Fatal("a refused rebuild re-sealed the log")
	}
	if err := runProjections(ctx, []string{"rebuild", "members"}, logger); err != nil {
		t.Fatalf("rebuilding another read model: %v", err)
	}
	if err := runProjections(ctx, []string{"rebuild", "--force", "audit_chain"}, logger); err != nil {
		t.Fatalf("forced rebuild: %v", err)
	}
	if out, err := verify(); err != nil {
		t.Fatalf("after a forced rebuild the log is sealed as it is now: %q, %v", out, err)
	}
}
