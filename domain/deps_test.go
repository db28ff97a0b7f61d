package domain_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDomainImportsNoInfrastructure checks STYLE.md's dependency rule: the
// domain never depends on the database, the router, the bus or HTTP.
func TestDomainImportsNoInfrastructure(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "./...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	forbidden := []string{"github.com/jackc/pgx", "github.com/gorilla/mux", "github.com/ThreeDotsLabs/watermill", "net/http", "selfcare/eventstore", "selfcare/handlers", "selfcare/projections", "selfcare/internal/"}
	for _, dep := range strings.Fields(string(out)) {
		for _, f := range forbidden {
			if strings.HasPrefix(dep, f) {
				t.Errorf("domain/ depends on %s", dep)
			}
		}
	}
}
