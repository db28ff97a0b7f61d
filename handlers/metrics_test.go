package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"selfcare/internal/testkit"
)

func TestMetricsReportCommandsRequestsAndReadModels(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	env.NewContract("Metrics")
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, map[string]any{}), http.StatusBadRequest)
	body := string(testkit.Expect(t, env.Get("/metrics", ""), http.StatusOK).Body)
	for _, want := range []string{
		`selfcare_command_duration_seconds_count{outcome="ok"}`,
		`selfcare_command_read_your_writes_seconds_count`,
		`selfcare_http_request_duration_seconds_count{method="POST",route="/api/v1/admin/contracts",status="201"}`,
		`selfcare_http_request_duration_seconds_count{method="POST",route="/api/v1/admin/contracts",status="400"}`,
		`selfcare_projection_lag_seconds{projector="members"}`,
		`selfcare_projection_checkpoint{projector="audit_chain"}`,
		`selfcare_projection_failing{projector="orders"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(body, testkit.AdminToken) {
		t.Fatal("/metrics shows a token")
	}
}
