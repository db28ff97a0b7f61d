package eventstore_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLayersImportOnlyWhatIsBelowThem checks the house's dependency rule:
// the event store knows nothing of selfcare, the read side and the command
// side know nothing of each other or of HTTP, and nothing but the wiring
// reaches up into handlers.
func TestLayersImportOnlyWhatIsBelowThem(t *testing.T) {
	forbidden := map[string][]string{
		"selfcare/eventstore/...":  {"selfcare/"},
		"selfcare/projections/...": {"selfcare/commands", "selfcare/handlers", "selfcare/internal/"},
		"selfcare/commands/...":    {"selfcare/projections", "selfcare/handlers"},
	}
	for pkgs, banned := range forbidden {
		out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, pkgs).CombinedOutput()
		if err != nil {
			t.Fatalf("go list %s: %v\n%s", pkgs, err, out)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			fields := strings.Fields(line)
			for _, dep := range fields[1:] {
				for _, b := range banned {
					if strings.HasPrefix(dep, b) && !strings.HasPrefix(dep, strings.TrimSuffix(pkgs, "/...")) {
						t.Errorf("%s imports %s, a layer above or beside it", fields[0], dep)
					}
				}
			}
		}
	}
}
