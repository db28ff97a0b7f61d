package access

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"selfcare/domain"
)

func fieldCodes(t *testing.T, err error) map[string]string {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *domain.ValidationError, got %v", err)
	}
	out := map[string]string{}
	for _, fe := range ve.Errors {
		out[fe.Field] = fe.Code
	}
	return out
}

func TestEachSectionAcceptsOnlyItsProfiles(t *testing.T) {
	want := map[Section][]Profile{
		SectionContract:      {Visitor, Manager},
		SectionDashboard:     {None, Visitor},
		SectionOrders:        {None, Visitor},
		SectionSubscriptions: {None, Visitor, Manager},
		SectionServices:      {None, Visitor, Manager},
		SectionInvoices:      {None, Visitor, Manager},
		SectionSupport:       {None, Visitor, Manager},
		SectionUsers:         {None, Visitor, ConsoleManager, Manager},
	}
	all := []Profile{None, Visitor, ConsoleManager, Manager}
	for s, accepted := range want {
		for _, p := range all {
			if got := s.Accepts(p); got != slices.Contains(accepted, p) {
				t.Errorf("%s accepts %s = %v", s, p, got)
			}
		}
	}
	if len(Sections) != len(want) {
		t.Errorf("Sections has %d entries, want %d", len(Sections), len(want))
	}
}

func TestDefaultProfilesAreContractManagerAndNoneElsewhere(t *testing.T) {
	ps := DefaultProfiles()
	for _, s := range Sections {
		want := None
		if s == SectionContract {
			want = Manager
		}
		if got := ps.Get(s); got != want {
			t.Errorf("default %s = %s, want %s", s, got, want)
		}
	}
}

func TestReferentIsManagerEverywhereAndVisitorOnDashboardAndOrders(t *testing.T) {
	want := map[Section]Profile{
		SectionContract: Manager, SectionDashboard: Visitor, SectionOrders: Visitor,
		SectionSubscriptions: Manager, SectionServices: Manager, SectionInvoices: Manager,
		SectionSupport: Manager, SectionUsers: Manager,
	}
	ps := ReferentProfiles()
	for s, p := range want {
		if got := ps.Get(s); got != p {
			t.Errorf("referent %s = %s, want %s", s, got, p)
		}
	}
}

func TestConsoleOnlyProfilesAreNoneExceptContractVisitor(t *testing.T) {
	ps := ConsoleOnlyProfiles()
	for _, s := range Sections {
		want := None
		if s == SectionContract {
			want = Visitor
		}
		if got := ps.Get(s); got != want {
			t.Errorf("console-only %s = %s, want %s", s, got, want)
		}
	}
}

func TestParseProfiles(t *testing.T) {
	tests := []struct {
		name      string
		in        map[string]string
		want      map[Section]Profile // checked sections
		wantCodes map[string]string
	}{
		{
			name: "missing sections take defaults",
			in:   map[string]string{"services": "manager"},
			want: map[Section]Profile{SectionServices: Manager, SectionContract: Manager, SectionUsers: None},
		},
		{
			name: "empty input gives the defaults",
			in:   nil,
			want: map[Section]Profile{SectionContract: Manager, SectionOrders: None},
		},
		{
			name:      "contract has no none",
			in:        map[string]string{"contract": "none"},
			wantCodes: map[string]string{"profiles.contract": "invalid"},
		},
		{
			name:      "console_manager only exists on users",
			in:        map[string]string{"services": "console_manager", "users": "console_manager"},
			wantCodes: map[string]string{"profiles.services": "invalid"},
		},
		{
			name:      "dashboard and orders have no manager",
			in:        map[string]string{"dashboard": "manager", "orders": "manager"},
			wantCodes: map[string]string{"profiles.dashboard": "invalid", "profiles.orders": "invalid"},
		},
		{
			name:      "unknown section",
			in:        map[string]string{"billing": "visitor", "support": "Manager"},
			wantCodes: map[string]string{"profiles.billing": "unknown_section", "profiles.support": "invalid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ps, err := ParseProfiles(tt.in)
			if tt.wantCodes != nil {
				if got := fieldCodes(t, err); !mapsEqual(got, tt.wantCodes) {
					t.Errorf("errors = %v, want %v", got, tt.wantCodes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for s, p := range tt.want {
				if ps.Get(s) != p {
					t.Errorf("%s = %s, want %s", s, ps.Get(s), p)
				}
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func TestParseProfilesOverKeepsBase(t *testing.T) {
	ps, err := ParseProfilesOver(ReferentProfiles(), map[string]string{"orders": "none"})
	if err != nil {
		t.Fatal(err)
	}
	if ps.Get(SectionOrders) != None || ps.Get(SectionInvoices) != Manager {
		t.Errorf("got %v", ps)
	}
}

func TestProfilesJSONRoundTrip(t *testing.T) {
	ps, _ := ParseProfiles(map[string]string{"users": "console_manager"})
	data, err := json.Marshal(ps)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"contract":"manager","dashboard":"none","orders":"none","subscriptions":"none","services":"none","invoices":"none","support":"none","users":"console_manager"}`
	if string(data) != want {
		t.Errorf("json = %s", data)
	}
	var back Profiles
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back != ps {
		t.Errorf("round trip: %v != %v", back, ps)
	}
	if err := json.Unmarshal([]byte(`{"orders":"manager"}`), &back); err == nil {
		t.Error("decoding an invalid profile must fail")
	}
	var zero Profiles
	if data, _ := json.Marshal(zero); string(data) != "null" {
		t.Errorf("zero profiles = %s, want null", data)
	}
}

func TestNewConsoleRoles(t *testing.T) {
	groups := []string{"Team_web", "ops-eu"}
	tests := []struct {
		name      string
		in        []string
		want      []string
		wantCodes map[string]string
	}{
		{"empty is the empty set", nil, []string{}, nil},
		{"predefined roles are cumulative and sorted", []string{"power_user", "guest"}, []string{"guest", "power_user"}, nil},
		{"duplicates merge", []string{"admin", "ADMIN", "admin"}, []string{"admin"}, nil},
		{"groups of the contract, canonical spelling", []string{"team_WEB", "admin"}, []string{"Team_web", "admin"}, nil},
		{"unknown role", []string{"admin", "root", ""}, nil, map[string]string{"console[1]": "unknown_role", "console[2]": "required"}},
		{"group of another contract", []string{"finance"}, nil, map[string]string{"console[0]": "unknown_role"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := NewConsoleRoles(tt.in, groups)
			if tt.wantCodes != nil {
				if codes := fieldCodes(t, err); !mapsEqual(codes, tt.wantCodes) {
					t.Errorf("errors = %v, want %v", codes, tt.wantCodes)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Names(), tt.want) {
				t.Errorf("got %v, want %v", got.Names(), tt.want)
			}
		})
	}
}

func TestConsoleRolesEqualityAndJSON(t *testing.T) {
	a := RestoreConsoleRoles([]string{"guest", "admin"})
	b := RestoreConsoleRoles([]string{"admin", "guest", "admin"})
	if !a.Equal(b) || a.Len() != 2 || !a.Has("guest") || a.Has("power_user") {
		t.Errorf("a=%v b=%v", a, b)
	}
	if a.Equal(RestoreConsoleRoles([]string{"admin"})) {
		t.Error("different sets compare equal")
	}
	data, _ := json.Marshal(ConsoleRoles{})
	if string(data) != "[]" {
		t.Errorf("empty set = %s, want []", data)
	}
	var back ConsoleRoles
	if err := json.Unmarshal([]byte(`["guest","admin","guest"]`), &back); err != nil || !back.Equal(a) {
		t.Errorf("decoded %v, %v", back, err)
	}
}

func TestRolesEqualAndJSON(t *testing.T) {
	r := Roles{Profiles: ReferentProfiles(), Console: RestoreConsoleRoles([]string{"admin"})}
	data, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Roles
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Equal(r) {
		t.Errorf("round trip %s gave %v", data, back)
	}
	other := r
	other.Console = ConsoleRoles{}
	if other.Equal(r) {
		t.Error("roles with different console roles compare equal")
	}
}

func TestPredefinedRoleNamesAreReserved(t *testing.T) {
	for _, n := range []string{"admin", "Power_User", "GUEST"} {
		if !IsPredefinedConsoleRole(n) {
			t.Errorf("%s should be predefined", n)
		}
	}
	if IsPredefinedConsoleRole("Team_web") {
		t.Error("Team_web is not predefined")
	}
}

func TestConsoleRoleChoicesListPredefinedThenGroups(t *testing.T) {
	got := ConsoleRoleChoices([]string{"Team_web"})
	want := []ConsoleRoleChoice{
		{"admin", "predefined"}, {"power_user", "predefined"}, {"guest", "predefined"}, {"Team_web", "group"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %v", got)
	}
}

// Profiles decode the stored form without a map; whatever the input, the
// result (or the failure) is the one ParseProfiles gives the decoded map.
func TestProfilesUnmarshalJSONIsParseProfilesOfTheMap(t *testing.T) {
	inputs := []string{
		`{}`, ` { } `, `{"contract":"visitor"}`,
		`{"contract": "manager", "dashboard": "visitor", "orders": "visitor", "users": "manager"}`,
		"{\n\t\"orders\" :\r\"visitor\" ,\"orders\":\"none\"}", // duplicates: the last wins
		`{"contract":"visitor","nowhere":"manager"}`,           // unknown section
		`{"orders":"manager"}`,                                // a profile the section refuses
		`{"orders":"visit\u006fr"}`, `{"ord\"ers":"visitor"}`, // escapes
		`{"orders":"visitör"}`, `{"orders":1}`, `{"orders":null}`, `{"orders":"visitor",}`,
		`{"orders":"visitor"} x`, `{"orders" "visitor"}`, `["orders"]`, `"orders"`, `{`, ``, `{"orders":"visitor"`,
	}
	for _, in := range inputs {
		var got Profiles
		gotErr := json.Unmarshal([]byte(in), &got)
		var m map[string]string
		var want Profiles
		wantErr := json.Unmarshal([]byte(in), &m)
		if wantErr == nil {
			want, wantErr = ParseProfiles(m)
		}
		if (gotErr == nil) != (wantErr == nil) || got != want {
			t.Errorf("%q: got %v (%v), want %v (%v)", in, got, gotErr, want, wantErr)
		}
		if wantErr != nil && gotErr != nil && gotErr.Error() != wantErr.Error() && !strings.Contains(gotErr.Error(), "invalid character") && !strings.Contains(gotErr.Error(), "unexpected end") {
			t.Errorf("%q: error %q, want %q", in, gotErr, wantErr)
		}
	}
}
