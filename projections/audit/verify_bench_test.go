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
	const n = 100_000
	seedEvents(b, env, n)
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
