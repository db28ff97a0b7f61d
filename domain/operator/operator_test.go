package operator

import (
	"errors"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/domaintest"
)

var t0 = time.Date(2026, 12, 4, 9, 0, 0, 0, time.UTC)

func TestANameIsGivenOnceAndRevokedForGood(t *testing.T) {
	name, err := NewName(" Alice.Martin ")
	if err != nil || name.String() != "alice.martin" {
		t.Fatalf("name: %v %v", name, err)
	}
	var a Account
	added, err := a.Add(name, RoleAuditor, t0)
	if err != nil || len(added) != 1 || added[0] != (OperatorAdded{Name: "alice.martin", Role: RoleAuditor, At: t0}) {
		t.Fatalf("add: %v %v", added, err)
	}
	a.Apply(added[0])
	if _, err := a.Add(name, RoleAdmin, t0); !errors.Is(err, ErrExists) {
		t.Errorf("a second add: %v", err)
	}
	revoked, err := a.Revoke(name, t0)
	if err != nil || len(revoked) != 1 {
		t.Fatalf("revoke: %v %v", revoked, err)
	}
	a.Apply(revoked[0])
	if again, err := a.Revoke(name, t0); err != nil || len(again) != 0 {
		t.Errorf("a second revoke: %v %v, want nothing", again, err)
	}
	if _, err := a.Add(name, RoleAdmin, t0); !errors.Is(err, ErrExists) {
		t.Errorf("a revoked name given again: %v", err)
	}
	if _, err := (Account{}).Revoke(name, t0); !errors.Is(err, ErrNoAccount) {
		t.Errorf("revoking a name never given: %v", err)
	}
}

func TestNamesAndRolesAreChecked(t *testing.T) {
	for _, bad := range []string{"ab", "with space", "bootstrap-admin", "Ünïcode", ""} {
		var v *domain.ValidationError
		if _, err := NewName(bad); !errors.As(err, &v) {
			t.Errorf("name %q: %v", bad, err)
		}
	}
	if _, err := NewRole("root"); err == nil {
		t.Error("role root accepted")
	}
	if r, err := NewRole("admin"); err != nil || r != RoleAdmin {
		t.Errorf("role admin: %v %v", r, err)
	}
	domaintest.RoundTrip(t, EventTypes, OperatorAdded{Name: "alice", Role: RoleAdmin, At: t0}, OperatorRevoked{Name: "alice", At: t0})
}
