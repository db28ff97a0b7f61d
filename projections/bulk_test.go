package projections_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain/billing"
	"selfcare/domain/console"
	"selfcare/domain/subscription"
	"selfcare/internal/testkit"
)

// TestBulkRebuildEqualsTheLiveReadModels builds every read model live,
// event by event, from a history that goes through every event type they
// handle (and the corner cases of their statements: re-adding a removed
// member, a changed email, a deleted access key, a rejected order, a
// subscription started and ended, usage reported twice for a period...),
// then rebuilds them all, in bulk, and finds every table row for row as
// it was. Every read model has a Builder: a rebuild folds the history in
// memory rather than running a statement per event.
func TestBulkRebuildEqualsTheLiveReadModels(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	for _, p := range env.Server.Runner.Projectors() {
		if p.Bulk == nil {
			t.Errorf("read model %s has no Builder: its rebuild runs a statement per event", p.Name)
		}
	}
	makeHistory(t, env)
	env.SettleReadModels()

	ctx := context.Background()
	live := dumpReadModels(t, env)
	for schema, tables := range live {
		for table, rows := range tables {
			if rows == "" && !emptyAllowed[schema+"."+table] {
				t.Errorf("%s.%s is empty: the history does not exercise it", schema, table)
			}
		}
	}
	var reported []string
	err := env.Server.Runner.Rebuild(ctx, "", func(name string, applied, total int64) {
		if applied == total && total > 0 {
			reported = append(reported, name)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	rebuilt := dumpReadModels(t, env)
	for schema, tables := range live {
		for table, rows := range tables {
			if got := rebuilt[schema][table]; got != rows {
				t.Errorf("%s.%s rebuilt:\n%s\nlive:\n%s", schema, table, got, rows)
			}
		}
	}
	if len(reported) < len(env.Server.Runner.Projectors()) {
		t.Errorf("progress reported the end of %v only", reported)
	}
	// The rebuilt tables come with the planner's statistics: each one's
	// estimated row count is its row count (ANALYZE reads every row of a
	// table this small), not the none a table filled in bulk has until
	// autovacuum comes round.
	for _, p := range env.Server.Runner.Projectors() {
		rows, err := env.Pool.Query(ctx, `
SELECT c.relname, c.reltuples::bigint FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND c.relkind = 'r'`, p.SchemaName())
		if err != nil {
			t.Fatal(err)
		}
		type stat struct {
			Table     string
			Estimated int64
		}
		stats, err := pgx.CollectRows(rows, pgx.RowToStructByPos[stat])
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range stats {
			var n int64
			if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{p.SchemaName(), st.Table}.Sanitize()).Scan(&n); err != nil {
				t.Fatal(err)
			}
			if st.Estimated != n {
				t.Errorf("%s.%s: the planner estimates %d rows, it has %d: not analyzed after the rebuild", p.SchemaName(), st.Table, st.Estimated, n)
			}
		}
	}
}

// emptyAllowed are tables the history leaves empty on purpose: placers of
// reservations are kept only while... (none today).
var emptyAllowed = map[string]bool{}

// makeHistory writes, through the commands and the HTTP API, a history
// touching every event type a read model handles.
func makeHistory(t *testing.T, env *testkit.Env) {
	t.Helper()
	a, b := env.NewContract("Bulk A"), env.NewContract("Bulk B")
	h := env.History()
	ref := testkit.UserActor(a.ReferentLogin)
	op, sys := testkit.OperatorActor(), testkit.SystemActor("scheduler")
	check := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}

	// Members and role changes: added, changed, removed, added again.
	check(h.AddUser(ref, a.ID, b.ReferentLogin, testkit.Roles("users=visitor")))
	check(h.ChangeRoles(ref, a.ID, b.ReferentLogin, testkit.Roles("users=manager orders=visitor", "admin")))
	check(h.RemoveUser(ref, a.ID, b.ReferentLogin))
	check(h.AddUser(ref, a.ID, b.ReferentLogin, testkit.Roles("invoices=visitor")))
	m := env.DeclareMember(a.ID, map[string]string{"orders": "visitor"})
	env.GrantConsoleRoles(a.ID, m.Login, "admin")
	env.GrantConsoleRoles(a.ID, m.Login, "guest")
	env.SetExternalAccounts(a.ID, m.Login, true, false)
	env.SetExternalAccounts(a.ID, m.Login, false, true)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts/"+a.ID+"/console-groups", testkit.AdminToken, map[string]string{"name": "ops"}), http.StatusCreated)
	// Identities: a password set, a profile changed (the email too).
	token := m.Token
	testkit.Expect(t, env.Patch("/api/v1/me", token, map[string]any{"phone": "+33 1 98 76 54 32", "last_name": "Changed"}), http.StatusOK)
	testkit.Expect(t, env.Patch("/api/v1/me", token, map[string]any{"email": "new-" + strings.ToLower(m.Login) + "@example.com", "current_password": testkit.Password}), http.StatusOK)

	// Credentials: a password set and removed, keys created and one deleted.
	at := time.Now().UTC()
	stream := console.Stream(a.ID, m.Login)
	_, err := h.Append(ref, stream, a.ID,
		console.ApiPasswordSet{ContractID: a.ID, Login: m.Login, At: at},
		console.AccessKeyCreated{ContractID: a.ID, Login: m.Login, AccessKeyID: "AK-BULK-1", At: at},
		console.AccessKeyCreated{ContractID: a.ID, Login: m.Login, AccessKeyID: "AK-BULK-2", At: at},
		console.AccessKeyDeleted{ContractID: a.ID, Login: m.Login, AccessKeyID: "AK-BULK-1", Reason: "deleted", At: at},
		console.ApiPasswordSet{ContractID: a.ID, Login: a.ReferentLogin, At: at},
		console.ApiPasswordRemoved{ContractID: a.ID, Login: a.ReferentLogin, At: at},
		console.ApiPasswordSet{ContractID: b.ID, Login: b.ReferentLogin, At: at},
	)
	check(err)

	// Orders: completed, rejected, in progress; reservations whose
	// subscriptions start and end; invoices; usage reported twice.
	period := billing.PeriodOf(subscription.DateOf(time.Now()))
	for i, c := range []testkit.Contract{a, b} {
		user := testkit.UserActor(c.ReferentLogin)
		oneOff, err := h.PlaceOrder(user, c.ID, "PS104", nil)
		check(err)
		check(h.CompleteOrder(op, c.ID, oneOff))
		reservation, err := h.PlaceOrder(user, c.ID, "AD135", map[string]any{
			"region": "eu-west-0", "flavor": "c2.large", "duration_months": 12, "upfront": i == 1,
		})
		check(err)
		check(h.CompleteOrder(op, c.ID, reservation))
		today := subscription.DateOf(time.Now()).FirstOfNextMonth()
		if i == 1 {
			today = today.AddMonths(13) // started and ended
		}
		check(h.AdvanceSubscription(sys, c.ID, reservation, today))
		rejected, err := h.PlaceOrder(user, c.ID, "PS108", nil)
		check(err)
		testkit.Expect(t, env.Post("/api/v1/admin/orders/"+rejected+"/reject", testkit.AdminToken, map[string]string{"reason": "out of stock"}), http.StatusOK)
		_, err = h.PlaceOrder(user, c.ID, "PS108", nil) // left in progress
		check(err)
		_, err = h.PlaceOrder(user, c.ID, "AD135", map[string]any{"region": "eu-west-0", "flavor": "c2.xlarge", "duration_months": 12, "upfront": false})
		check(err) // a reservation not completed: a placer without subscription
		for range 2 {
			testkit.Expect(t, env.Post("/api/v1/admin/contracts/"+c.ID+"/usage", testkit.AdminToken, map[string]any{
				"period": period.String(), "lines": []map[string]any{{"item": "vCPU hours", "quantity": 10 + i, "unit_price": map[string]string{"amount": "0.05", "currency": "EUR"}}},
			}), http.StatusCreated)
		}
		issued, err := h.IssueInvoice(sys, c.ID, period)
		check(err)
		if !issued {
			t.Fatalf("no invoice issued for %s", c.ID)
		}
	}
}

// dumpReadModels returns every read model's tables, schema → table →
// rows as text in a fixed order.
func dumpReadModels(t *testing.T, env *testkit.Env) map[string]map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]map[string]string{}
	for _, p := range env.Server.Runner.Projectors() {
		rows, err := env.Pool.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, p.SchemaName())
		if err != nil {
			t.Fatal(err)
		}
		tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if len(tables) == 0 {
			t.Fatalf("read model %s has no tables", p.Name)
		}
		out[p.SchemaName()] = map[string]string{}
		for _, table := range tables {
			ident := pgx.Identifier{p.SchemaName(), table}.Sanitize()
			rows, err := env.Pool.Query(ctx, `SELECT t::text FROM `+ident+` t ORDER BY 1`)
			if err != nil {
				t.Fatal(err)
			}
			lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
			if err != nil {
				t.Fatal(err)
			}
			out[p.SchemaName()][table] = fmt.Sprint(strings.Join(lines, "\n"))
		}
	}
	return out
}
