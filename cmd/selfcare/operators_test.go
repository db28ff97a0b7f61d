package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"selfcare/commands"
	"selfcare/domain/operator"
	"selfcare/internal/testkit"
)

// TestOperatorsCommandGivesNamedTokensThatTheLogRecords: an account added
// on the command line acts under its own name, which the audit shows, and
// its token stops working once revoked.
func TestOperatorsCommandGivesNamedTokensThatTheLogRecords(t *testing.T) {
	env := testkit.New(t)
	ctx := commands.WithActor(context.Background(), commands.Actor{Kind: commands.ActorSystem, Login: "system:cli"})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		err := operatorsCommand(ctx, env.Server.Operators, args, &out)
		return out.String(), err
	}
	tokenRE := regexp.MustCompile(`token: (\S+)`)
	out, err := run("add", "Alice.Admin", "--role", "admin")
	admin := tokenRE.FindStringSubmatch(out)
	if err != nil || admin == nil || len(admin[1]) < 32 {
		t.Fatalf("add: %q, %v", out, err)
	}
	out, err = run("add", "bob.audit", "--role", "auditor")
	auditor := tokenRE.FindStringSubmatch(out)
	if err != nil || auditor == nil {
		t.Fatalf("add auditor: %q, %v", out, err)
	}
	var stored int
	if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM operator_tokens WHERE token_hash::text LIKE '%' || $1 || '%'`, admin[1]).Scan(&stored); err != nil || stored != 0 {
		t.Errorf("the token is stored in clear (%d, %v)", stored, err)
	}
	if _, err := run("add", "alice.admin", "--role", "auditor"); !errors.Is(err, operator.ErrExists) {
		t.Errorf("the same name twice: %v", err)
	}
	var ue usageError
	if _, err := run("add", "carol"); !errors.As(err, &ue) {
		t.Errorf("no role: %v, want usage", err)
	}

	// The named admin creates a contract; the audit, read by the named
	// auditor, says who.
	r := testkit.Expect(t, env.Post("/api/v1/admin/contracts", admin[1], testkit.ContractBody("Named", testkit.Unique("named."))), http.StatusCreated)
	cid := r.Map(t)["id"].(string)
	env.SettleReadModels()
	changes := testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+cid, auditor[1]), http.StatusOK).Map(t)
	items := changes["items"].([]any)
	if len(items) == 0 || items[0].(map[string]any)["actor"] != "alice.admin" {
		t.Fatalf("role changes = %v, want the referent added by alice.admin", changes)
	}
	// Each token is for its role only.
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+cid, admin[1]), http.StatusForbidden)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", auditor[1], testkit.ContractBody("Nope", testkit.Unique("nope."))), http.StatusForbidden)
	// The bootstrap token is recorded as such.
	r = testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, testkit.ContractBody("Boot", testkit.Unique("boot."))), http.StatusCreated)
	env.SettleReadModels()
	changes = testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+r.Map(t)["id"].(string), auditor[1]), http.StatusOK).Map(t)
	if items := changes["items"].([]any); len(items) == 0 || items[0].(map[string]any)["actor"] != "bootstrap-admin" {
		t.Errorf("the bootstrap token's act is recorded as %v", changes)
	}

	out, err = run("list")
	if err != nil || !strings.Contains(out, "alice.admin\tadmin") || !strings.Contains(out, "bob.audit\tauditor") || strings.Contains(out, admin[1]) {
		t.Errorf("list: %q, %v", out, err)
	}
	if _, err := run("revoke", "alice.admin"); err != nil {
		t.Fatal(err)
	}
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", admin[1], testkit.ContractBody("After", testkit.Unique("after."))), http.StatusUnauthorized)
	if out, _ := run("list"); !strings.Contains(out, "alice.admin\tadmin") || !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke: %q", out)
	}
	if _, err := run("revoke", "nobody.here"); !errors.Is(err, operator.ErrNoAccount) {
		t.Errorf("revoking an unknown name: %v", err)
	}
	// Adding and revoking are in the log, by the command line.
	if n := env.CountEvents("OperatorAdded", "OperatorRevoked"); n != 3 {
		t.Errorf("%d operator events, want 3", n)
	}
}
