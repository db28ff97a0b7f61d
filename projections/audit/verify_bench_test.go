package audit_test

import (
	"context"
	"testing"

	"selfcare/internal/testkit"
	"selfcare/projections/audit"
)

// BenchmarkVerify seeds 200,000 events shaped like selfcare's, seals them
// with a chain rebuild and verifies them: go test -bench Verify -run '^$'.
// It reports events/s of the rebuild and of the verification.
func BenchmarkVerify(b *testing.B) {
	env := testkit.New(b)
	ctx := context.Background()
	const n = 200_000
	if _, err := env.Pool.Exec(ctx, `
INSERT INTO events (position, event_id, stream_id, stream_version, event_type, schema_version, data, metadata, recorded_at)
SELECT m.p + g, gen_random_uuid(), 'membership-C' || (g % 1000) || '-user', g / 1000 + 1, 'RolesChanged', 1,
       jsonb_build_object('contract', 'C-000123', 'login', 'jdoe' || g || '@example.com', 'roles', jsonb_build_array('admin', 'billing'),
                          'previous_roles', jsonb_build_array('billing'), 'note', 'quarterly review of console access <team>'),
       '{"actor": "referent@example.com", "actor_kind": "user", "contract": "C-000123", "correlation_id": "5b0e6a8e-4cf1-4f8a-9a7e-2f6a1c9d3b10", "request_id": "req-01HZX4K7Q2", "source_ip": "203.0.113.7"}',
       now()
FROM generate_series(1, $1) g, (SELECT coalesce(max(position), 0) AS p FROM events) m`, n); err != nil {
		b.Fatal(err)
	}
	key := env.Server.Keys.Derive(audit.ChainKeyPurpose)
	b.ResetTimer()
	for range b.N {
		start := b.Elapsed()
		if err := env.Server.Runner.Rebuild(ctx, audit.ChainName, nil); err != nil {
			b.Fatal(err)
		}
		rebuilt := b.Elapsed() - start
		rep, err := audit.Verify(ctx, env.Pool, key, nil)
		if err != nil || !rep.OK || rep.EventsChecked < n {
			b.Fatalf("%+v %v", rep, err)
		}
		verified := b.Elapsed() - start - rebuilt
		b.ReportMetric(float64(rep.EventsChecked)/rebuilt.Seconds(), "rebuild-events/s")
		b.ReportMetric(float64(rep.EventsChecked)/verified.Seconds(), "verify-events/s")
	}
}
