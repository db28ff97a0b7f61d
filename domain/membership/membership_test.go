package membership

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/domaintest"
)

const cid = "OCB0000124"

var (
	t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	t1 = t0.Add(time.Hour)

	none    = access.ConsoleRoles{}
	admin   = access.RestoreConsoleRoles([]string{"admin"})
	guest   = access.RestoreConsoleRoles([]string{"guest"})
	adminWG = access.RestoreConsoleRoles([]string{"admin", "guest"})
)

func profiles(t *testing.T, m map[string]string) access.Profiles {
	t.Helper()
	ps, err := access.ParseProfiles(m)
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

func added(login string, ps access.Profiles, console access.ConsoleRoles) UserAddedToContract {
	return UserAddedToContract{ContractID: cid, Login: login, Profiles: ps, Console: console, AddedBy: "paul.dupont", NewIdentity: true, At: t0}
}

func referentAdded() UserAddedToContract {
	return UserAddedToContract{ContractID: cid, Login: "paul.dupont", Referent: true, Profiles: access.ReferentProfiles(), Console: none, AddedBy: "back-office", NewIdentity: true, At: t0}
}

func TestAdd(t *testing.T) {
	services := profiles(t, map[string]string{"services": "manager", "orders": "visitor"})
	julie := func(ps access.Profiles, c access.ConsoleRoles) Add {
		return Add{ContractID: cid, Login: "julie.dupont", Profiles: ps, Console: c, By: AllRoles, AddedBy: "paul.dupont", NewIdentity: true}
	}
	tests := []struct {
		name    string
		given   []domain.Event
		cmd     Add
		want    []domain.Event
		wantErr error
		codes   map[string]string
	}{
		{
			name: "a user with profiles and no console role",
			cmd:  julie(services, none),
			want: []domain.Event{added("julie.dupont", services, none)},
		},
		{
			name: "zero profiles take the defaults",
			cmd:  julie(access.Profiles{}, none),
			want: []domain.Event{added("julie.dupont", access.DefaultProfiles(), none)},
		},
		{
			name: "console roles provision a console account in the same decision",
			cmd:  julie(services, adminWG),
			want: []domain.Event{
				added("julie.dupont", services, adminWG),
				ConsoleAccountProvisioned{ContractID: cid, Login: "julie.dupont", Roles: adminWG, At: t0},
			},
		},
		{
			name: "a console user gets none everywhere and visitor on contract",
			cmd:  Add{ContractID: cid, Login: "julie.dupont", ConsoleOnly: true, Profiles: services, Console: guest, By: ConsoleRolesOnly, AddedBy: "paul.dupont", NewIdentity: true},
			want: []domain.Event{
				added("julie.dupont", access.ConsoleOnlyProfiles(), guest),
				ConsoleAccountProvisioned{ContractID: cid, Login: "julie.dupont", Roles: guest, At: t0},
			},
		},
		{
			name:  "a console user needs at least one console role",
			cmd:   Add{ContractID: cid, Login: "julie.dupont", ConsoleOnly: true, By: AllRoles},
			codes: map[string]string{"console": "required"},
		},
		{
			name:    "a console manager cannot add a customer-area user",
			cmd:     Add{ContractID: cid, Login: "julie.dupont", Profiles: services, By: ConsoleRolesOnly},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "no authority adds nobody",
			cmd:     Add{ContractID: cid, Login: "julie.dupont", ConsoleOnly: true, Console: guest},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "a user already on the contract cannot be added again",
			given:   []domain.Event{added("julie.dupont", services, none)},
			cmd:     julie(services, none),
			wantErr: ErrAlreadyMember,
		},
		{
			name: "a removed user can be added again",
			given: []domain.Event{
				added("julie.dupont", services, none),
				UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: services, Console: none}, At: t0},
			},
			cmd:  julie(access.DefaultProfiles(), guest),
			want: []domain.Event{added("julie.dupont", access.DefaultProfiles(), guest), ConsoleAccountProvisioned{ContractID: cid, Login: "julie.dupont", Roles: guest, At: t0}},
		},
		{
			name: "the referent gets the referent profiles by default",
			cmd:  Add{ContractID: cid, Login: "paul.dupont", Referent: true, By: AllRoles, AddedBy: "back-office", NewIdentity: true},
			want: []domain.Event{referentAdded()},
		},
		{
			name:    "the referent must be manager of contract and users",
			cmd:     Add{ContractID: cid, Login: "paul.dupont", Referent: true, Profiles: access.DefaultProfiles(), By: AllRoles},
			wantErr: ErrReferentMustStayManager,
		},
		{
			name:  "the command must match the stream",
			given: []domain.Event{added("julie.dupont", services, none), UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", At: t0}},
			cmd:   Add{ContractID: "OCB0000999", Login: "marc.martin", Profiles: services, By: AllRoles},
			codes: map[string]string{"contract_id": "invalid", "login": "invalid"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).Add(tt.cmd, t0)
			checkResult(t, got, err, tt.want, tt.wantErr, tt.codes)
		})
	}
}

func checkResult(t *testing.T, got []domain.Event, err error, want []domain.Event, wantErr error, codes map[string]string) {
	t.Helper()
	if codes != nil {
		var ve *domain.ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("want a validation error, got %v", err)
		}
		gotCodes := map[string]string{}
		for _, fe := range ve.Errors {
			gotCodes[fe.Field] = fe.Code
		}
		if !reflect.DeepEqual(gotCodes, codes) {
			t.Errorf("errors = %v, want %v", gotCodes, codes)
		}
		return
	}
	if !errors.Is(err, wantErr) {
		t.Fatalf("err = %v, want %v", err, wantErr)
	}
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("events:\n got %+v\nwant %+v", got, want)
	}
}

func TestChangeRoles(t *testing.T) {
	def := access.DefaultProfiles()
	services := profiles(t, map[string]string{"services": "manager"})
	noUsersManager, _ := access.ReferentProfiles().With(access.SectionUsers, access.Visitor)
	contractVisitor, _ := access.ReferentProfiles().With(access.SectionContract, access.Visitor)
	lessReferent, _ := access.ReferentProfiles().With(access.SectionInvoices, access.Visitor)
	julie := func(c access.ConsoleRoles) []domain.Event {
		return []domain.Event{added("julie.dupont", def, c)}
	}
	changed := func(before, after Roles) RolesChanged {
		return RolesChanged{ContractID: cid, Login: "julie.dupont", Before: before, After: after, At: t1}
	}
	tests := []struct {
		name    string
		given   []domain.Event
		cmd     ChangeRoles
		want    []domain.Event
		wantErr error
	}{
		{
			name:  "a manager changes profiles",
			given: julie(none),
			cmd:   ChangeRoles{By: AllRoles, Profiles: services, Console: none},
			want:  []domain.Event{changed(Roles{Profiles: def, Console: none}, Roles{Profiles: services, Console: none})},
		},
		{
			name:  "a first console role provisions the console account",
			given: julie(none),
			cmd:   ChangeRoles{By: AllRoles, Profiles: def, Console: guest},
			want: []domain.Event{
				changed(Roles{Profiles: def, Console: none}, Roles{Profiles: def, Console: guest}),
				ConsoleAccountProvisioned{ContractID: cid, Login: "julie.dupont", Roles: guest, At: t1},
			},
		},
		{
			name:  "removing some console roles updates the console account",
			given: julie(adminWG),
			cmd:   ChangeRoles{By: ConsoleRolesOnly, Console: guest},
			want: []domain.Event{
				changed(Roles{Profiles: def, Console: adminWG}, Roles{Profiles: def, Console: guest}),
				ConsoleAccountUpdated{ContractID: cid, Login: "julie.dupont", Before: adminWG, After: guest, At: t1},
			},
		},
		{
			name:  "adding a console role updates the console account",
			given: julie(admin),
			cmd:   ChangeRoles{By: AllRoles, Profiles: def, Console: adminWG},
			want: []domain.Event{
				changed(Roles{Profiles: def, Console: admin}, Roles{Profiles: def, Console: adminWG}),
				ConsoleAccountUpdated{ContractID: cid, Login: "julie.dupont", Before: admin, After: adminWG, At: t1},
			},
		},
		{
			name:  "removing every console role deprovisions the console account",
			given: julie(adminWG),
			cmd:   ChangeRoles{By: ConsoleRolesOnly, Profiles: def, Console: none},
			want: []domain.Event{
				changed(Roles{Profiles: def, Console: adminWG}, Roles{Profiles: def, Console: none}),
				ConsoleAccountDeprovisioned{ContractID: cid, Login: "julie.dupont", At: t1},
			},
		},
		{
			name:  "profiles changed together with console roles",
			given: julie(admin),
			cmd:   ChangeRoles{By: AllRoles, Profiles: services, Console: none},
			want: []domain.Event{
				changed(Roles{Profiles: def, Console: admin}, Roles{Profiles: services, Console: none}),
				ConsoleAccountDeprovisioned{ContractID: cid, Login: "julie.dupont", At: t1},
			},
		},
		{
			name:  "no actual change emits nothing",
			given: julie(adminWG),
			cmd:   ChangeRoles{By: AllRoles, Profiles: def, Console: access.RestoreConsoleRoles([]string{"guest", "admin"})},
		},
		{
			name:    "a console manager cannot change profiles",
			given:   julie(admin),
			cmd:     ChangeRoles{By: ConsoleRolesOnly, Profiles: services, Console: admin},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "without authority nothing changes",
			given:   julie(admin),
			cmd:     ChangeRoles{Console: guest},
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "a user not on the contract",
			cmd:     ChangeRoles{By: AllRoles, Console: guest},
			wantErr: ErrNotMember,
		},
		{
			name:    "a removed user",
			given:   append(julie(none), UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def}, At: t0}),
			cmd:     ChangeRoles{By: AllRoles, Console: guest},
			wantErr: ErrNotMember,
		},
		{
			name:    "the referent stays users manager",
			given:   []domain.Event{referentAdded()},
			cmd:     ChangeRoles{By: AllRoles, Profiles: noUsersManager},
			wantErr: ErrReferentMustStayManager,
		},
		{
			name:    "the referent stays contract manager",
			given:   []domain.Event{referentAdded()},
			cmd:     ChangeRoles{By: AllRoles, Profiles: contractVisitor},
			wantErr: ErrReferentMustStayManager,
		},
		{
			name:    "nobody changes their own roles, a manager neither",
			given:   julie(none),
			cmd:     ChangeRoles{By: AllRoles, Actor: "Julie.Dupont", Profiles: services, Console: none},
			wantErr: ErrOwnRoles,
		},
		{
			name:    "a console manager does not give itself console roles",
			given:   []domain.Event{added("julie.dupont", profiles(t, map[string]string{"users": "console_manager"}), none)},
			cmd:     ChangeRoles{By: ConsoleRolesOnly, Actor: "julie.dupont", Console: admin},
			wantErr: ErrOwnRoles,
		},
		{
			name:    "a console manager does not touch the referent's console roles",
			given:   []domain.Event{referentAdded()},
			cmd:     ChangeRoles{By: ConsoleRolesOnly, Actor: "julie.dupont", Console: guest},
			wantErr: ErrAboveConsoleManager,
		},
		{
			name:    "a console manager does not touch a users manager's console roles",
			given:   []domain.Event{added("julie.dupont", profiles(t, map[string]string{"users": "manager"}), admin)},
			cmd:     ChangeRoles{By: ConsoleRolesOnly, Actor: "max.martin", Console: none},
			wantErr: ErrAboveConsoleManager,
		},
		{
			name:  "a users manager changes another manager's roles",
			given: []domain.Event{added("julie.dupont", profiles(t, map[string]string{"users": "manager"}), admin)},
			cmd:   ChangeRoles{By: AllRoles, Actor: "max.martin", Console: guest},
			want: []domain.Event{
				changed(Roles{Profiles: profiles(t, map[string]string{"users": "manager"}), Console: admin}, Roles{Profiles: profiles(t, map[string]string{"users": "manager"}), Console: guest}),
				ConsoleAccountUpdated{ContractID: cid, Login: "julie.dupont", Before: admin, After: guest, At: t1},
			},
		},
		{
			name:  "the referent's other profiles and console roles may change",
			given: []domain.Event{referentAdded()},
			cmd:   ChangeRoles{By: AllRoles, Profiles: lessReferent, Console: admin},
			want: []domain.Event{
				RolesChanged{ContractID: cid, Login: "paul.dupont", Before: Roles{Profiles: access.ReferentProfiles(), Console: none}, After: Roles{Profiles: lessReferent, Console: admin}, At: t1},
				ConsoleAccountProvisioned{ContractID: cid, Login: "paul.dupont", Roles: admin, At: t1},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).ChangeRoles(tt.cmd, t1)
			checkResult(t, got, err, tt.want, tt.wantErr, nil)
		})
	}
}

func TestRemove(t *testing.T) {
	def := access.DefaultProfiles()
	tests := []struct {
		name    string
		given   []domain.Event
		by      Authority
		actor   string
		want    []domain.Event
		wantErr error
	}{
		{
			name:  "a user without console account",
			given: []domain.Event{added("julie.dupont", def, none)},
			by:    AllRoles,
			want:  []domain.Event{UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def, Console: none}, At: t1}},
		},
		{
			name:  "removing a user deprovisions their console account",
			given: []domain.Event{added("julie.dupont", def, adminWG)},
			by:    AllRoles,
			want: []domain.Event{
				UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def, Console: adminWG}, At: t1},
				ConsoleAccountDeprovisioned{ContractID: cid, Login: "julie.dupont", At: t1},
			},
		},
		{
			name:    "referent cannot be removed",
			given:   []domain.Event{referentAdded()},
			by:      AllRoles,
			wantErr: ErrReferentCannotBeRemoved,
		},
		{
			name:    "a console manager cannot remove users",
			given:   []domain.Event{added("julie.dupont", def, guest)},
			by:      ConsoleRolesOnly,
			wantErr: domain.ErrForbidden,
		},
		{
			name:    "a user not on the contract",
			by:      AllRoles,
			wantErr: ErrNotMember,
		},
		{
			name:    "a manager does not remove themselves",
			given:   []domain.Event{added("julie.dupont", def, none)},
			by:      AllRoles,
			actor:   "julie.dupont",
			wantErr: ErrOwnRoles,
		},
		{
			name: "a user removed twice",
			given: []domain.Event{
				added("julie.dupont", def, none),
				UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def}, At: t0},
			},
			by:      AllRoles,
			wantErr: ErrNotMember,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).Remove(tt.by, tt.actor, t1)
			checkResult(t, got, err, tt.want, tt.wantErr, nil)
		})
	}
	if !errors.Is(ErrReferentCannotBeRemoved, domain.ErrConflict) {
		t.Error("removing the referent must be a conflict (409)")
	}
}

func TestSetExternalAccounts(t *testing.T) {
	def := access.DefaultProfiles()
	set := ExternalAccountsSet{ContractID: cid, Login: "julie.dupont", Incidents: true, ChangeRequests: false, At: t1}
	tests := []struct {
		name    string
		given   []domain.Event
		want    []domain.Event
		wantErr error
	}{
		{"flags are recorded", []domain.Event{added("julie.dupont", def, none)}, []domain.Event{set}, nil},
		{"unchanged flags emit nothing", []domain.Event{added("julie.dupont", def, none), set}, nil, nil},
		{"only members have flags", nil, nil, ErrNotMember},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).SetExternalAccounts(true, false, t1)
			checkResult(t, got, err, tt.want, tt.wantErr, nil)
		})
	}
	m := Replay([]domain.Event{added("julie.dupont", def, none), set})
	if inc, cr := m.ExternalAccounts(); !inc || cr {
		t.Errorf("flags = %v %v", inc, cr)
	}
}

func TestFoldTellsRolesAsOfAnyInstant(t *testing.T) {
	def := access.DefaultProfiles()
	services := profiles(t, map[string]string{"services": "manager"})
	t2, t3 := t0.Add(2*time.Hour), t0.Add(3*time.Hour)
	events := []domain.Event{
		added("julie.dupont", def, none),
		RolesChanged{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def, Console: none}, After: Roles{Profiles: services, Console: guest}, At: t1},
		ConsoleAccountProvisioned{ContractID: cid, Login: "julie.dupont", Roles: guest, At: t1},
		UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: services, Console: guest}, At: t2},
		ConsoleAccountDeprovisioned{ContractID: cid, Login: "julie.dupont", At: t2},
	}
	tests := []struct {
		at     time.Time
		member bool
		roles  Roles
	}{
		{t0.Add(-time.Second), false, Roles{}},
		{t0, true, Roles{Profiles: def, Console: none}},
		{t1.Add(-time.Nanosecond), true, Roles{Profiles: def, Console: none}},
		{t1, true, Roles{Profiles: services, Console: guest}},
		{t3, false, Roles{}},
	}
	for _, tt := range tests {
		m := AsOf(events, tt.at)
		if m.IsMember() != tt.member || !m.Roles().Equal(tt.roles) {
			t.Errorf("as of %s: member=%v roles=%v", tt.at.Format(time.TimeOnly), m.IsMember(), m.Roles())
		}
	}
	if m := ReplayUntil(events, 2); !m.Roles().Equal(Roles{Profiles: services, Console: guest}) || m.Version() != 2 {
		t.Errorf("after 2 events: %v (version %d)", m.Roles(), m.Version())
	}
	if m := Replay(events[:3]); !m.HasConsoleAccount() || m.Login() != "julie.dupont" || m.ContractID() != cid {
		t.Errorf("state %+v", m)
	}
}

func TestAuthorityOf(t *testing.T) {
	tests := []struct {
		users access.Profile
		want  Authority
	}{
		{access.Manager, AllRoles},
		{access.ConsoleManager, ConsoleRolesOnly},
		{access.Visitor, NoAuthority},
		{access.None, NoAuthority},
	}
	for _, tt := range tests {
		ps, _ := access.DefaultProfiles().With(access.SectionUsers, tt.users)
		if got := AuthorityOf(ps); got != tt.want {
			t.Errorf("users=%s: %v, want %v", tt.users, got, tt.want)
		}
	}
	if AuthorityOf(access.Profiles{}) != NoAuthority {
		t.Error("a non-member has no authority")
	}
}

func TestStreamIsPerContractAndLogin(t *testing.T) {
	if got := Stream(cid, "Julie.Dupont"); got != "membership-OCB0000124-julie.dupont" {
		t.Errorf("stream = %s", got)
	}
}

func TestEventTypesRoundTrip(t *testing.T) {
	def := access.DefaultProfiles()
	samples := []domain.Event{
		added("julie.dupont", def, adminWG),
		RolesChanged{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def, Console: none}, After: Roles{Profiles: def, Console: guest}, At: t1},
		UserRemovedFromContract{ContractID: cid, Login: "julie.dupont", Before: Roles{Profiles: def, Console: guest}, At: t1},
		ConsoleAccountProvisioned{ContractID: cid, Login: "julie.dupont", Roles: guest, At: t1},
		ConsoleAccountUpdated{ContractID: cid, Login: "julie.dupont", Before: guest, After: adminWG, At: t1},
		ConsoleAccountDeprovisioned{ContractID: cid, Login: "julie.dupont", At: t1},
		ExternalAccountsSet{ContractID: cid, Login: "julie.dupont", Incidents: true, ChangeRequests: true, At: t1},
	}
	domaintest.RoundTrip(t, EventTypes, samples...)
	for _, e := range samples {
		if _, ok := occurredAt(e); !ok {
			t.Errorf("%s has no time for AsOf", e.EventType())
		}
	}
	data, _ := json.Marshal(samples[1])
	want := `{"contract_id":"OCB0000124","login":"julie.dupont","before":{"profiles":{"contract":"manager","dashboard":"none","orders":"none","subscriptions":"none","services":"none","invoices":"none","support":"none","users":"none"},"console":[]},"after":{"profiles":{"contract":"manager","dashboard":"none","orders":"none","subscriptions":"none","services":"none","invoices":"none","support":"none","users":"none"},"console":["guest"]},"at":"2026-11-24T10:00:00Z"}`
	if string(data) != want {
		t.Errorf("RolesChanged json:\n got %s\nwant %s", data, want)
	}
}
