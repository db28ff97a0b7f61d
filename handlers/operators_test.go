package handlers_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	"selfcare/commands"
	"selfcare/internal/testkit"
)

// TestNamedOperatorsAreTheActorsOfWhatTheyDo: a contract created with a
// named operator's token records that operator as the actor of its events
// and of the referent's role grant, as a named auditor reads in the
// role-change audit; once revoked, both tokens are 401 at once.
func TestNamedOperatorsAreTheActorsOfWhatTheyDo(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	ops := &commands.Operators{App: env.Server.App}
	ctx := context.Background()
	alice, err := ops.Add(ctx, "alice.ops", commands.RoleAdmin)
	if err != nil {
		t.Fatal(err)
	}
	bob, err := ops.Add(ctx, "bob.audit", commands.RoleAuditor)
	if err != nil {
		t.Fatal(err)
	}

	login := testkit.Unique("named.")
	var created struct {
		ID string `json:"id"`
	}
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", alice, testkit.ContractBody("Named", login)), http.StatusCreated).JSON(t, &created)
	if created.ID == "" {
		t.Fatal("no contract id")
	}
	page := roleChanges(t, env, bob, url.Values{"contract": {created.ID}})
	if len(page.Items) != 1 {
		t.Fatalf("role changes: %+v", page.Items)
	}
	if c := page.Items[0]; c.Change != "added" || c.User != login || c.Actor != "alice.ops" || c.ActorKind != commands.ActorOperator {
		t.Fatalf("the referent's grant by alice.ops: %+v", c)
	}
	if byName := roleChanges(t, env, bob, url.Values{"actor": {"alice.ops"}}); len(byName.Items) != 1 {
		t.Fatalf("filtered by actor alice.ops: %+v", byName.Items)
	}
	var n int
	if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE metadata->>'contract' = $1 AND metadata->>'actor' IS DISTINCT FROM 'alice.ops' AND metadata->>'actor_kind' <> $2`,
		created.ID, commands.ActorSystem).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d events of the contract not recorded as alice.ops (%v)", n, err)
	}
	// An auditor's token is not an operator's, and the reverse.
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", bob, testkit.ContractBody("Nope", testkit.Unique("nope."))), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/audit/integrity", alice), http.StatusForbidden)

	// The bootstrap tokens keep working, recorded as such.
	boot := testkit.Unique("boot.")
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, testkit.ContractBody("Boot", boot)), http.StatusCreated)
	if p := roleChanges(t, env, testkit.AuditorToken, url.Values{"user": {boot}}); len(p.Items) != 1 || p.Items[0].Actor != commands.BootstrapAdmin {
		t.Fatalf("bootstrap grant: %+v", p.Items)
	}

	for _, name := range []string{"alice.ops", "bob.audit"} {
		if err := ops.Revoke(ctx, name); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", alice, testkit.ContractBody("Late", testkit.Unique("late."))), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+created.ID, bob), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/healthz", alice), http.StatusUnauthorized)
}
