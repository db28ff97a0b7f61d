package handlers_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"selfcare/domain/membership"
	"selfcare/eventstore"
	"selfcare/internal/testkit"
)

type integrityReport struct {
	OK               bool   `json:"ok"`
	EventsChecked    int    `json:"events_checked"`
	FirstBadPosition *int64 `json:"first_bad_position"`
	Problem          string `json:"problem"`
	EventsNotChecked int    `json:"events_not_checked"`
	ChainedUpTo      int64  `json:"chained_up_to"`
	HeadPosition     int64  `json:"head_position"`
	HeadHash         string `json:"head_hash"`
	AnchorChecked    bool   `json:"anchor_checked"`
}

func (r integrityReport) String() string {
	bad := "-"
	if r.FirstBadPosition != nil {
		bad = fmt.Sprint(*r.FirstBadPosition)
	}
	return fmt.Sprintf("ok=%v checked=%d not_checked=%d first_bad=%s problem=%q chained_up_to=%d head=%d:%s",
		r.OK, r.EventsChecked, r.EventsNotChecked, bad, r.Problem, r.ChainedUpTo, r.HeadPosition, r.HeadHash)
}

func verifyLog(t *testing.T, env *testkit.Env, query string) integrityReport {
	t.Helper()
	var r integrityReport
	testkit.Expect(t, env.Get("/api/v1/audit/integrity"+query, testkit.AuditorToken), http.StatusOK).JSON(t, &r)
	return r
}

// chainedLog is a test server whose log has some history, all chained.
func chainedLog(t *testing.T) *testkit.Env {
	t.Helper()
	env := testkit.New(t)
	a, b := env.NewContract("Sealed"), env.NewContract("Also sealed")
	h := env.History()
	if err := h.AddUser(testkit.UserActor(a.ReferentLogin), a.ID, b.ReferentLogin, testkit.Roles("users=visitor", "guest")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.PlaceOrder(testkit.UserActor(a.ReferentLogin), a.ID, "PS104", nil); err != nil {
		t.Fatal(err)
	}
	// A write's answer does not wait for the chain (a background read model).
	env.SettleReadModels()
	if r := verifyLog(t, env, ""); !r.OK || r.EventsChecked != env.EventCount() || r.EventsNotChecked != 0 || r.FirstBadPosition != nil {
		t.Fatalf("untouched log of %d events: %v", env.EventCount(), r)
	}
	return env
}

// tamper runs SQL on the test's own database with the events table's
// immutability triggers off, as an attacker with the database would.
func tamper(t *testing.T, env *testkit.Env, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	for _, stmt := range []string{`ALTER TABLE events DISABLE TRIGGER USER`, sql, `ALTER TABLE events ENABLE TRIGGER USER`} {
		a := args
		if stmt != sql {
			a = nil
		}
		tag, err := env.Pool.Exec(ctx, stmt, a...)
		if err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if stmt == sql && tag.RowsAffected() != 1 {
			t.Fatalf("%s changed %d rows", sql, tag.RowsAffected())
		}
	}
}

// TestIntegrityDetectsTheFirstAlteredPosition alters the log again and
// again, each time before the previous alteration, so that each is in
// turn the first bad position the verification must report.
func TestIntegrityDetectsTheFirstAlteredPosition(t *testing.T) {
	t.Parallel()
	env := chainedLog(t)
	ctx := context.Background()
	var positions []int64
	rows, err := env.Pool.Query(ctx, `SELECT position FROM events ORDER BY position`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var p int64
		if err := rows.Scan(&p); err != nil {
			t.Fatal(err)
		}
		positions = append(positions, p)
	}
	if len(positions) < 10 {
		t.Fatalf("only %d events", len(positions))
	}
	last := len(positions) - 1
	for _, step := range []struct {
		name    string
		pos     int64
		problem string
		sql     string
	}{
		{"last event deleted", positions[last], "missing", `DELETE FROM events WHERE position = $1`},
		// The chain's own table has no trigger to disable.
		{"link forged", positions[last-1], "altered", `UPDATE rm_audit_chain.chain SET hash = sha256(hash) WHERE position = $1`},
		{"metadata grows a key", positions[last-2], "altered", `UPDATE events SET metadata = metadata || '{"note": "approved"}' WHERE position = $1`},
		{"event deleted", positions[last-3], "missing", `DELETE FROM events WHERE position = $1`},
		{"data changed", positions[last-4], "altered", `UPDATE events SET data = data || '{"login": "someone.else"}' WHERE position = $1`},
		{"time moved", positions[last-5], "altered", `UPDATE events SET recorded_at = recorded_at - interval '1 microsecond' WHERE position = $1`},
		{"stream renumbered", positions[last-6], "altered", `UPDATE events SET stream_version = stream_version + 1000 WHERE position = $1`},
		// A free slot in the first transaction, far below the chain's checkpoint.
		{"event inserted in the past", positions[0] + 1000, "inserted", `
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
VALUES ($1, gen_random_uuid(), 'orders-OCB0000001', 99, 'OrderCompleted', 1, '{"ref": "X"}', '{"actor": "operator"}', now() - interval '1 day')`},
	} {
		tamper(t, env, step.sql, step.pos)
		r := verifyLog(t, env, "")
		if r.OK || r.FirstBadPosition == nil || *r.FirstBadPosition != step.pos || r.Problem != step.problem {
			t.Fatalf("%s at %d: %v", step.name, step.pos, r)
		}
		var earlier int
		if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM events WHERE position < $1`, step.pos).Scan(&earlier); err != nil {
			t.Fatal(err)
		}
		if r.EventsChecked != earlier {
			t.Fatalf("%s: %d events checked before the bad one, %d precede it", step.name, r.EventsChecked, earlier)
		}
	}
}

func TestIntegrityCountsEventsNotChainedYetAsNotChecked(t *testing.T) {
	t.Parallel()
	env := chainedLog(t)
	ctx := context.Background()
	// An older transaction in flight holds new events back from every
	// reader, the chain projector included (gap safety).
	holder, err := env.Pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback(ctx)
	if _, err := holder.Exec(ctx, `SELECT pg_current_xact_id()`); err != nil {
		t.Fatal(err)
	}
	var cid, login string
	if err := env.Pool.QueryRow(ctx, `SELECT contract_id, login FROM rm_members.members LIMIT 1`).Scan(&cid, &login); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		envs, err := env.Server.App.Envelopes(ctx, cid, membership.ExternalAccountsSet{ContractID: cid, Login: login, Incidents: i%2 == 0, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := env.Server.Store.Append(ctx, membership.Stream(cid, login), eventstore.Any, envs...); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	r := verifyLog(t, env, "")
	if !r.OK || r.EventsNotChecked != 3 || r.EventsChecked != env.EventCount()-3 || r.FirstBadPosition != nil {
		t.Fatalf("3 events held back from the chain: %v", r)
	}
	if err := holder.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		r = verifyLog(t, env, "")
		if r.OK && r.EventsNotChecked == 0 && r.EventsChecked == env.EventCount() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the chain did not catch up: %v", r)
		}
	}
}

// TestIntegrityAnchorsDetectACutTail shows what the chain alone cannot
// see (the last events deleted with their links) and how an anchor kept
// outside selfcare catches it.
func TestIntegrityAnchorsDetectACutTail(t *testing.T) {
	t.Parallel()
	env := chainedLog(t)
	head := verifyLog(t, env, "")
	anchor := fmt.Sprintf("?anchor=%d:%s", head.HeadPosition, head.HeadHash)
	if r := verifyLog(t, env, anchor); !r.OK || !r.AnchorChecked {
		t.Fatalf("verified against its own head: %v", r)
	}
	wrong := fmt.Sprintf("?anchor=%d:%064x", head.HeadPosition, 7)
	if r := verifyLog(t, env, wrong); r.OK || r.Problem != "anchor_mismatch" || *r.FirstBadPosition != head.HeadPosition {
		t.Fatalf("verified against a wrong hash: %v", r)
	}
	for _, bad := range []string{"?anchor=12", "?anchor=x:00", "?anchor=-3:" + head.HeadHash, "?anchor=5:abcd"} {
		testkit.Expect(t, env.Get("/api/v1/audit/integrity"+bad, testkit.AuditorToken), http.StatusBadRequest)
	}

	if _, err := env.Pool.Exec(context.Background(), `DELETE FROM rm_audit_chain.chain WHERE position = $1`, head.HeadPosition); err != nil {
		t.Fatal(err)
	}
	tamper(t, env, `DELETE FROM events WHERE position = $1`, head.HeadPosition)
	if r := verifyLog(t, env, ""); !r.OK {
		t.Fatalf("a cut tail looks like a shorter log, yet: %v", r)
	}
	if r := verifyLog(t, env, anchor); r.OK || r.Problem != "anchor_mismatch" || *r.FirstBadPosition != head.HeadPosition {
		t.Fatalf("the anchor did not catch the cut tail: %v", r)
	}
}
