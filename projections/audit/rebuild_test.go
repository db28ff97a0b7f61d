package audit_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
	"selfcare/projections/audit"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// TestRebuiltReadModelsEqualTheLiveOnes rebuilds both audit read models
// from position 0 and finds them as they were built live, batch by batch:
// the chain does not depend on how events were grouped.
func TestRebuiltReadModelsEqualTheLiveOnes(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a, b := env.NewContract("Rebuilt"), env.NewContract("Other")
	h := env.History()
	if err := h.AddUser(testkit.UserActor(a.ReferentLogin), a.ID, b.ReferentLogin, testkit.Roles("users=visitor")); err != nil {
		t.Fatal(err)
	}
	if err := h.ChangeRoles(testkit.UserActor(a.ReferentLogin), a.ID, b.ReferentLogin, testkit.Roles("users=manager", "admin")); err != nil {
		t.Fatal(err)
	}
	env.SettleReadModels() // a write does not wait for the chain
	ctx := context.Background()
	dump := func(sql string) string {
		rows, err := env.Pool.Query(ctx, sql)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out string
		for rows.Next() {
			v, err := rows.Values()
			if err != nil {
				t.Fatal(err)
			}
			out += fmt.Sprintln(v...)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
	const chain = `SELECT position, encode(hash, 'hex') FROM rm_audit_chain.chain ORDER BY position`
	const changes = `SELECT * FROM rm_role_changes.role_changes ORDER BY position`
	liveChain, liveChanges := dump(chain), dump(changes)
	if liveChain == "" || liveChanges == "" {
		t.Fatal("nothing built live")
	}
	for _, name := range []string{audit.ChainName, audit.RoleChangesName} {
		if err := env.Server.Runner.Rebuild(ctx, name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := dump(chain); got != liveChain {
		t.Fatalf("rebuilt chain:\n%s\nlive chain:\n%s", got, liveChain)
	}
	if got := dump(changes); got != liveChanges {
		t.Fatalf("rebuilt role changes:\n%s\nlive:\n%s", got, liveChanges)
	}
}
