package console

import (
	"errors"
	"testing"
	"time"

	"selfcare/domain/access"
)

func TestConsoleSignIn(t *testing.T) {
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	base := SignInAttempt{ContractID: "OCB0000124", Login: "julie", ClientID: "console", Address: "192.0.2.1", ContractExists: true}
	withRoles := base
	withRoles.Roles = access.RestoreConsoleRoles([]string{access.RoleAdmin})
	unknown := base
	unknown.ContractExists = false
	unknown.Roles = withRoles.Roles

	t.Run("a console role grants the sign-in with the roles", func(t *testing.T) {
		e, err := DecideSignIn(withRoles, now)
		g, ok := e.(ConsoleSignInGranted)
		if err != nil || !ok || len(g.Roles) != 1 || g.Roles[0] != access.RoleAdmin || g.ClientID != "console" || g.Address != "192.0.2.1" {
			t.Fatalf("got %#v, %v", e, err)
		}
	})
	for name, tc := range map[string]struct {
		a      SignInAttempt
		reason string
	}{
		"no console role is denied":            {base, DeniedNoConsoleAccount},
		"an unknown company account is denied": {unknown, DeniedUnknownContract},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := DecideSignIn(tc.a, now)
			d, ok := e.(ConsoleSignInDenied)
			if !errors.Is(err, ErrNoConsoleAccount) || !ok || d.Reason != tc.reason {
				t.Fatalf("got %#v, %v", e, err)
			}
		})
	}
}
