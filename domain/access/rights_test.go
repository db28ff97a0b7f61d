package access

import (
	"slices"
	"testing"
)

// specTable is SPEC §2, written out once more by hand, row by row: what a
// member holding only this profile on this section may do (on top of the
// contract summary every member sees), without and with a console role.
type specRow struct {
	section     Section
	profile     Profile
	grants      []Capability
	withConsole []Capability // extra grants once the member has >= 1 console role
}

var specTable = []specRow{
	{SectionContract, Visitor, []Capability{CanSeeContract}, nil},
	{SectionContract, Manager, []Capability{CanSeeContract, CanSeeCompany, CanSeeDocumentSpace}, nil},

	{SectionDashboard, None, nil, nil},
	{SectionDashboard, Visitor, []Capability{CanSeeDashboard}, []Capability{CanUseConsoleFromDashboard}},

	{SectionOrders, None, nil, nil},
	{SectionOrders, Visitor, []Capability{CanListOrders}, nil},

	{SectionSubscriptions, None, nil, nil},
	{SectionSubscriptions, Visitor, []Capability{CanListSubscriptions}, nil},
	{SectionSubscriptions, Manager, []Capability{CanListSubscriptions}, nil},

	{SectionServices, None, nil, nil},
	{SectionServices, Visitor, []Capability{CanSeeCatalog}, nil},
	{SectionServices, Manager, []Capability{CanSeeCatalog, CanPlaceOrder}, nil},

	{SectionInvoices, None, nil, nil},
	{SectionInvoices, Visitor, []Capability{CanSeeInvoiceContact}, nil},
	{SectionInvoices, Manager, []Capability{CanSeeInvoiceContact, CanSeeInvoices, CanSeeUsageReports}, nil},

	{SectionSupport, None, nil, nil},
	{SectionSupport, Visitor, []Capability{CanSeeSupport}, nil},
	{SectionSupport, Manager, []Capability{CanSeeSupport}, nil},

	{SectionUsers, None, nil, nil},
	{SectionUsers, Visitor, []Capability{CanListUsers, CanListConsoleUsers}, nil},
	{SectionUsers, ConsoleManager, []Capability{CanListConsoleUsers, CanAddConsoleUser, CanChangeConsoleRoles}, nil},
	{SectionUsers, Manager, []Capability{
		CanListUsers, CanListConsoleUsers, CanAddUser, CanAddConsoleUser,
		CanChangeRoles, CanChangeConsoleRoles, CanRemoveUser, CanSeeRoleHistory,
	}, nil},
}

func granted(r Roles) []Capability {
	var out []Capability
	for _, c := range Capabilities() {
		if r.Can(c) {
			out = append(out, c)
		}
	}
	return out
}

func set(cs ...[]Capability) []Capability {
	var out []Capability
	for _, c := range cs {
		out = append(out, c...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func TestSpecTableOfRights(t *testing.T) {
	guest := RestoreConsoleRoles([]string{RoleGuest})
	for _, row := range specTable {
		t.Run(string(row.section)+"="+string(row.profile), func(t *testing.T) {
			ps, err := ConsoleOnlyProfiles().With(row.section, row.profile)
			if err != nil {
				t.Fatalf("With: %v", err)
			}
			// Every member sees the contract summary: contract has no "none".
			base := []Capability{CanSeeContract}

			got := set(granted(Roles{Profiles: ps}))
			want := set(base, row.grants)
			if !slices.Equal(got, want) {
				t.Errorf("without console role: got %v, want %v", got, want)
			}

			got = set(granted(Roles{Profiles: ps, Console: guest}))
			want = set(base, row.grants, row.withConsole, []Capability{CanUseConsole})
			if !slices.Equal(got, want) {
				t.Errorf("with a console role: got %v, want %v", got, want)
			}
		})
	}
}

func TestSpecTableCoversEverySectionProfileAndCapability(t *testing.T) {
	for _, s := range Sections {
		for _, p := range s.Profiles() {
			found := slices.ContainsFunc(specTable, func(r specRow) bool {
				return r.section == s && r.profile == p
			})
			if !found {
				t.Errorf("spec table misses %s=%s", s, p)
			}
		}
	}
	mentioned := map[Capability]bool{CanUseConsole: true}
	for _, r := range specTable {
		for _, c := range append(r.grants, r.withConsole...) {
			mentioned[c] = true
		}
	}
	for _, c := range Capabilities() {
		if !mentioned[c] {
			t.Errorf("capability %s is not checked against the spec table", c)
		}
	}
}

func TestConsoleManagerCannotListCustomerAreaUsers(t *testing.T) {
	ps, _ := DefaultProfiles().With(SectionUsers, ConsoleManager)
	if ps.Can(CanListUsers) {
		t.Error("a console manager must not see the customer-area users list")
	}
	if !ps.Can(CanListConsoleUsers) || !ps.Can(CanAddConsoleUser) || !ps.Can(CanChangeConsoleRoles) {
		t.Error("a console manager must list, add and change console users")
	}
	if ps.Can(CanAddUser) || ps.Can(CanChangeRoles) || ps.Can(CanRemoveUser) {
		t.Error("a console manager must not add users, change profiles or remove users")
	}
}

func TestConsoleNeedsAConsoleRole(t *testing.T) {
	ref := ReferentProfiles()
	if (Roles{Profiles: ref}).Can(CanUseConsole) {
		t.Error("even the referent needs a console role for the console")
	}
	if ref.Can(CanUseConsoleFromDashboard) {
		t.Error("Profiles.Can must not grant console capabilities")
	}
	withAdmin := Roles{Profiles: ConsoleOnlyProfiles(), Console: RestoreConsoleRoles([]string{RoleAdmin})}
	if !withAdmin.Can(CanUseConsole) {
		t.Error("a console role alone opens SSO from the home page")
	}
	if withAdmin.Can(CanUseConsoleFromDashboard) {
		t.Error("the dashboard button needs dashboard visitor too")
	}
}

func TestNonMemberCanDoNothing(t *testing.T) {
	for _, c := range Capabilities() {
		if (Roles{}).Can(c) {
			t.Errorf("zero Roles grants %s", c)
		}
		if (Roles{Console: RestoreConsoleRoles([]string{RoleAdmin})}).Can(c) {
			t.Errorf("console roles without profiles grant %s", c)
		}
	}
	if (Roles{}).Can("no_such_capability") {
		t.Error("unknown capability granted")
	}
}

func TestProfileSatisfiesIsAPartialOrder(t *testing.T) {
	tests := []struct {
		held, min Profile
		want      bool
	}{
		{None, None, true},
		{None, Visitor, false},
		{Visitor, None, true},
		{Visitor, Visitor, true},
		{Visitor, ConsoleManager, false},
		{Visitor, Manager, false},
		{ConsoleManager, None, true},
		{ConsoleManager, Visitor, false}, // no access to the customer-area users list
		{ConsoleManager, ConsoleManager, true},
		{ConsoleManager, Manager, false},
		{Manager, Visitor, true},
		{Manager, ConsoleManager, true},
		{Manager, Manager, true},
	}
	for _, tt := range tests {
		if got := tt.held.Satisfies(tt.min); got != tt.want {
			t.Errorf("%s satisfies %s = %v, want %v", tt.held, tt.min, got, tt.want)
		}
	}
}

func TestProfilesAllows(t *testing.T) {
	ps, err := ParseProfiles(map[string]string{"users": "console_manager", "services": "manager", "orders": "visitor"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		section Section
		min     Profile
		want    bool
	}{
		{SectionServices, Visitor, true},
		{SectionServices, Manager, true},
		{SectionOrders, Visitor, true},
		{SectionInvoices, Visitor, false},
		{SectionUsers, ConsoleManager, true},
		{SectionUsers, Visitor, false},
		{SectionUsers, Manager, false},
		{SectionContract, Manager, true},
	}
	for _, tt := range tests {
		if got := ps.Allows(tt.section, tt.min); got != tt.want {
			t.Errorf("Allows(%s, %s) = %v, want %v", tt.section, tt.min, got, tt.want)
		}
	}
	if (Profiles{}).Allows(SectionContract, None) {
		t.Error("zero profiles (not a member) must allow nothing")
	}
}
