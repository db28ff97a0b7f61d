package audit_test

import (
	"context"
	"strconv"
	"testing"

	"selfcare/internal/testkit"
	"selfcare/projections/audit"
)

// seedEvents appends n events shaped like selfcare's straight to the
// events table, one of them with 1.5 MB of data (more than a batch of the
// verification's reader holds).
func seedEvents(t testing.TB, env *testkit.Env, n int) {
	t.Helper()
	if _, err := env.Pool.Exec(context.Background(), `
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT m.p + g, gen_random_uuid(), 'membership-C' || (g % 1000) || '-user', g / 1000 + 1, 'RolesChanged', 1,
       jsonb_build_object('contract', 'C-000123', 'login', 'jdoe' || g || '@example.com', 'roles', jsonb_build_array('admin', 'billing'),
                          'previous_roles', jsonb_build_array('billing'), 'note', 'quarterly review <é>',
                          'blob', CASE WHEN g = $1 / 2 THEN repeat('x', 1500000) END),
       '{"actor": "referent@example.com", "actor_kind": "user", "contract": "C-000123", "source_ip": "203.0.113.7"}',
       now() - make_interval(secs => $1 - g)
FROM generate_series(1, $1) g, (SELECT coalesce(max(position), 0) AS p FROM events) m`, n); err != nil {
		t.Fatal(err)
	}
}

// TestVerifyWalksALogOfManyBatches seals a log longer than the reader's
// batches, with a row larger than a batch's buffer, verifies it whole, then
// alters an event of a later batch and finds exactly that position.
func TestVerifyWalksALogOfManyBatches(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	ctx := context.Background()
	seedEvents(t, env, 5000)
	if err := env.Server.Runner.Rebuild(ctx, audit.ChainName, nil); err != nil {
		t.Fatal(err)
	}
	var total int64
	if err := env.Pool.QueryRow(ctx, `SELECT count(*) FROM events`).Scan(&total); err != nil {
		t.Fatal(err)
	}
	key := env.Server.Keys.Derive(audit.ChainKeyPurpose)
	rep, err := audit.Verify(ctx, env.Pool, key, nil)
	if err != nil || !rep.OK || rep.EventsChecked != total || rep.EventsNotChecked != 0 {
		t.Fatalf("%+v %v (%d events)", rep, err, total)
	}
	// Anchored at the head, the next verification still matches.
	anchor, err := audit.ParseAnchor(fmtAnchor(rep))
	if err != nil {
		t.Fatal(err)
	}
	if again, err := audit.Verify(ctx, env.Pool, key, &anchor); err != nil || !again.OK || !again.AnchorChecked {
		t.Fatalf("%+v %v", again, err)
	}

	var pos, before int64
	if err := env.Pool.QueryRow(ctx, `SELECT position, (SELECT count(*) FROM events WHERE position < p.position)
FROM (SELECT position FROM events ORDER BY position OFFSET 3700 LIMIT 1) p`).Scan(&pos, &before); err != nil {
		t.Fatal(err)
	}
	for _, stmt := range []string{`ALTER TABLE events DISABLE TRIGGER USER`,
		`UPDATE events SET data = data || '{"note": "changed"}' WHERE position = ` + itoa(pos),
		`ALTER TABLE events ENABLE TRIGGER USER`} {
		if _, err := env.Pool.Exec(ctx, stmt); err != nil {
			t.Fatal(err)
		}
	}
	rep, err = audit.Verify(ctx, env.Pool, key, nil)
	if err != nil || rep.OK || rep.FirstBadPosition == nil || *rep.FirstBadPosition != pos ||
		rep.Problem != audit.ProblemAltered || rep.EventsChecked != before {
		t.Fatalf("altered %d (%d before it): %+v %v", pos, before, rep, err)
	}
}

func fmtAnchor(rep audit.Report) string { return itoa(rep.HeadPosition) + ":" + rep.HeadHash }

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
