package handlers_test

import (
	"net/http"
	"testing"
	"time"

	"selfcare/handlers"
	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

// TestContractEndpointsReadSessionAndRolesTogether: the endpoints of a
// contract resolve the session and the caller's roles in one query; each
// outcome of the two separate checks is kept: a member passes, a user of
// another contract is not found there, a user without the right is
// forbidden, a signed-out or expired session is unauthenticated, and a
// role change shows at once.
func TestContractEndpointsReadSessionAndRolesTogether(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Now())
	env := testkit.New(t, testkit.WithClock(clk))
	c := env.NewContract("SL_Prod")
	other := env.NewContract("Other")
	orders := ordersPath(c.ID)

	testkit.Expect(t, env.Get(orders, c.ReferentToken), http.StatusOK)
	if r := testkit.Expect(t, env.Get(orders, other.ReferentToken), http.StatusNotFound); r.Map(t)["type"] != handlers.ProblemContractNotFound {
		t.Errorf("a user of another contract got %s, want the contract-not-found problem", r)
	}
	visitor := env.AddSignedInUser(c, "visitor.", map[string]string{"orders": "none"})
	if r := testkit.Expect(t, env.Get(orders, visitor.Token), http.StatusForbidden); r.Map(t)["type"] != handlers.ProblemForbidden {
		t.Errorf("a member without the orders section got %s, want the forbidden problem", r)
	}
	// A role change is seen by the next request.
	testkit.Expect(t, env.Put("/api/v1/contracts/"+c.ID+"/users/"+visitor.Login+"/roles", c.ReferentToken,
		map[string]any{"profiles": map[string]string{"orders": "visitor"}}), http.StatusOK)
	testkit.Expect(t, env.Get(orders, visitor.Token), http.StatusOK)

	testkit.Expect(t, env.Delete("/api/v1/sessions/current", visitor.Token), http.StatusNoContent)
	if r := testkit.Expect(t, env.Get(orders, visitor.Token), http.StatusUnauthorized); r.Map(t)["type"] != handlers.ProblemUnauthenticated {
		t.Errorf("a signed-out session got %s, want the unauthenticated problem", r)
	}
	testkit.Expect(t, env.Get(orders, "not-a-token"), http.StatusUnauthorized)
	clk.Set(time.Now().Add(13 * time.Hour))
	testkit.Expect(t, env.Get(orders, c.ReferentToken), http.StatusUnauthorized)
	// The back office's token is no session: it is not a member either.
	testkit.Expect(t, env.Get(orders, testkit.AdminToken), http.StatusForbidden)
}
