package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"selfcare/domain"
	"selfcare/domain/domaintest"
	"selfcare/domain/identity"
)

var t0 = time.Date(2016, 12, 16, 10, 30, 0, 0, time.UTC)

// guideInput is the contract of the user guide (§5.2, figures 19 and 26).
func guideInput() CreateInput {
	return CreateInput{
		Name:  "SL_Prod",
		Offer: "Flexible Engine",
		Company: Company{
			LegalName: "ORANGE CLOUD FOR BUSINESS", SIRET: "50161528000036",
			ReferentName: "Dupont Paul", ReferentEmail: "paul.dupont@orangecloud.com",
		},
		InvoiceContact: Contact{Phone: "0810 007 580", Email: "adv.itsservices@orange.com"},
		SupportContact: SupportContact{Phone: "0800 100 200", Email: "support@orange.com", Hours: "24/7"},
		Referent: identity.RegistrationInput{
			Login: "paul.dupont", Email: "paul.dupont@orangecloud.com",
			PersonInput: identity.PersonInput{Civility: "mr", LastName: "Dupont", FirstName: "Paul", Phone: "0101010101", Language: "fr"},
		},
	}
}

func codes(t *testing.T, err error) map[string][]string {
	t.Helper()
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want *domain.ValidationError, got %v", err)
	}
	out := map[string][]string{}
	for _, fe := range ve.Errors {
		out[fe.Field] = append(out[fe.Field], fe.Code)
	}
	return out
}

func TestContractIDs(t *testing.T) {
	if got := FormatContractID(124); got != "OCB0000124" {
		t.Errorf("FormatContractID(124) = %s", got)
	}
	if got := FormatContractID(MaxContractNumber); got != "OCB9999999" {
		t.Errorf("max = %s", got)
	}
	tests := []struct {
		in   string
		want int
	}{
		{"OCB0000124", 124},
		{"OCB0001655", 1655},
		{"OCB9999999", 9999999},
		{"OCB0000000", 0},
		{"ocb0000124", 0},
		{"OCB000124", 0},
		{"OCB00001245", 0},
		{"OCB00001a4", 0},
		{"FCA0000124", 0},
		{"", 0},
	}
	for _, tt := range tests {
		n, err := ParseContractID(tt.in)
		if tt.want == 0 {
			if got := codes(t, err); !reflect.DeepEqual(got, map[string][]string{"contract_id": {"invalid"}}) {
				t.Errorf("%q: %v", tt.in, got)
			}
			continue
		}
		if err != nil || n != tt.want {
			t.Errorf("%q: %d, %v", tt.in, n, err)
		}
	}
}

func TestFormatContractIDRefusesAnOverflowedCounter(t *testing.T) {
	for _, n := range []int{0, -1, MaxContractNumber + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("FormatContractID(%d) did not panic", n)
				}
			}()
			FormatContractID(n)
		}()
	}
}

func TestPlatformID(t *testing.T) {
	seed := bytes.NewReader([]byte{0x36, 0x2a, 0x03, 0x65, 0xde, 0x40, 0x33, 0xa6, 0x1b, 0x89, 0x81, 0xf0, 0x71, 0xee, 0xc1, 0x00})
	id, err := NewPlatformID(seed)
	if err != nil {
		t.Fatal(err)
	}
	if id != "362a0365de4033a61b8981f071eec100" || !ValidPlatformID(id) {
		t.Errorf("platform id = %s", id)
	}
	if _, err := NewPlatformID(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("a failing random source must fail")
	}
	for _, bad := range []string{"362A0365DE4033A61B8981F071EEC100", "362a0365de4033a61b8981f071eec1", "g62a0365de4033a61b8981f071eec100"} {
		if ValidPlatformID(bad) {
			t.Errorf("%s accepted", bad)
		}
	}
}

func TestSIRETChecksum(t *testing.T) {
	tests := []struct {
		siret string
		valid bool
	}{
		{"50161528000036", true},  // the guide's
		{"73282932000074", true},  // a well-known valid SIRET
		{"50161528000037", false}, // last digit changed
		{"50161582000036", false}, // two digits swapped
		{"35600000000010", true},  // La Poste: digit sum (15) multiple of 5
		{"35600000000011", false},
	}
	for _, tt := range tests {
		if got := validSIRET(tt.siret); got != tt.valid {
			t.Errorf("validSIRET(%s) = %v", tt.siret, got)
		}
	}
}

func TestNewCreationAcceptsTheGuideContract(t *testing.T) {
	c, err := NewCreation(guideInput())
	if err != nil {
		t.Fatal(err)
	}
	if c.Referent().Login.String() != "paul.dupont" || c.company.SIRET != "50161528000036" {
		t.Errorf("creation = %+v", c)
	}
	in := guideInput()
	in.Company.SIRET = "501 615 280 00036"
	if c, err := NewCreation(in); err != nil || c.company.SIRET != "50161528000036" {
		t.Errorf("spaced SIRET: %v %q", err, c.company.SIRET)
	}
}

func TestNewCreationReportsEveryFieldAtOnce(t *testing.T) {
	in := CreateInput{
		Name:           strings.Repeat("x", 65),
		Company:        Company{SIRET: "50161528000037", ReferentEmail: "nope"},
		InvoiceContact: Contact{Phone: "12", Email: ""},
		SupportContact: SupportContact{Phone: "0800 100 200", Email: "support@orange.com", Hours: "9h\x07"},
		Referent: identity.RegistrationInput{
			Login: "paul", Email: "paul.dupont@orangecloud.com",
			PersonInput: identity.PersonInput{Civility: "mr", LastName: "Dupont", FirstName: "Paul"},
		},
	}
	_, err := NewCreation(in)
	want := map[string][]string{
		"name":                   {"too_long"},
		"offer":                  {"required"},
		"company.legal_name":     {"required"},
		"company.siret":          {"invalid_checksum"},
		"company.referent_name":  {"required"},
		"company.referent_email": {"invalid"},
		"invoice_contact.phone":  {"too_short"},
		"invoice_contact.email":  {"required"},
		"support_contact.hours":  {"invalid_chars"},
		"referent.login":         {"too_short"},
		"referent.phone":         {"phone_or_mobile_required"},
	}
	if got := codes(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("errors = %v\nwant %v", got, want)
	}
	in = guideInput()
	in.Company.SIRET = "5016152800003"
	if got := codes(t, func() error { _, err := NewCreation(in); return err }()); !reflect.DeepEqual(got, map[string][]string{"company.siret": {"invalid"}}) {
		t.Errorf("13-digit SIRET: %v", got)
	}
}

func created() ContractCreated {
	in := guideInput()
	return ContractCreated{
		ID: "OCB0000124", Name: "SL_Prod", Offer: "Flexible Engine",
		PlatformID: "362a0365de4033a61b8981f071eec100", CreatedOn: "2016-12-16", CreatedAt: t0,
		Company: in.Company, InvoiceContact: in.InvoiceContact, SupportContact: in.SupportContact,
		ReferentLogin: "paul.dupont",
	}
}

func TestCreate(t *testing.T) {
	cmd, err := NewCreation(guideInput())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		given   []domain.Event
		id      string
		pid     string
		want    []domain.Event
		wantErr error
	}{
		{"a new contract", nil, "OCB0000124", "362a0365de4033a61b8981f071eec100", []domain.Event{created()}, nil},
		{"a contract is created once", []domain.Event{created()}, "OCB0000124", "362a0365de4033a61b8981f071eec100", nil, ErrContractExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).Create(cmd, tt.id, tt.pid, "paul.dupont", t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %+v\nwant %+v", got, tt.want)
			}
		})
	}
	_, err = Contract{}.Create(Creation{}, "OCB124", "XYZ", "", t0)
	want := map[string][]string{"id": {"invalid"}, "platform_id": {"invalid"}, "referent.login": {"required"}, "name": {"required"}}
	if got := codes(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("bad create: %v", got)
	}
}

func TestCreatedContractState(t *testing.T) {
	c := Replay([]domain.Event{created(), ConsoleGroupCreated{ContractID: "OCB0000124", Name: "Team_web", At: t0}})
	if !c.Exists() || c.ID() != "OCB0000124" || c.CreatedOn() != "2016-12-16" || c.Company().SIRET != "50161528000036" ||
		!c.IsReferent("Paul.Dupont") || c.IsReferent("julie.dupont") || c.Version() != 2 ||
		!reflect.DeepEqual(c.ConsoleGroups(), []string{"Team_web"}) {
		t.Errorf("state = %+v", c)
	}
}

func TestCreateConsoleGroup(t *testing.T) {
	withTeamWeb := []domain.Event{created(), ConsoleGroupCreated{ContractID: "OCB0000124", Name: "Team_web", At: t0}}
	tests := []struct {
		name    string
		given   []domain.Event
		group   string
		want    []domain.Event
		wantErr error
		codes   map[string][]string
	}{
		{"a new group", []domain.Event{created()}, " Team web-2.0 ",
			[]domain.Event{ConsoleGroupCreated{ContractID: "OCB0000124", Name: "Team web-2.0", At: t0}}, nil, nil},
		{"unique per contract, ignoring case", withTeamWeb, "TEAM_WEB", nil, ErrConsoleGroupExists, nil},
		{"admin is predefined", withTeamWeb, "Admin", nil, ErrReservedConsoleRole, nil},
		{"power_user is predefined", withTeamWeb, "power_user", nil, ErrReservedConsoleRole, nil},
		{"guest is predefined", withTeamWeb, "GUEST", nil, ErrReservedConsoleRole, nil},
		{"unknown contract", nil, "Team_web", nil, domain.ErrNotFound, nil},
		{"empty name", withTeamWeb, "  ", nil, nil, map[string][]string{"name": {"required"}}},
		{"too long", withTeamWeb, strings.Repeat("g", 65), nil, nil, map[string][]string{"name": {"too_long"}}},
		{"bad characters", withTeamWeb, "team/web", nil, nil, map[string][]string{"name": {"invalid_chars"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).CreateConsoleGroup(tt.group, t0)
			if tt.codes != nil {
				if c := codes(t, err); !reflect.DeepEqual(c, tt.codes) {
					t.Errorf("errors = %v, want %v", c, tt.codes)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !errors.Is(err, domain.ErrConflict) && !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("err %v is neither a conflict nor not found", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestEventTypesRoundTrip(t *testing.T) {
	samples := []domain.Event{created(), ConsoleGroupCreated{ContractID: "OCB0000124", Name: "Team_web", At: t0}}
	domaintest.RoundTrip(t, EventTypes, samples...)
	data, _ := json.Marshal(created())
	for _, key := range []string{`"id"`, `"platform_id"`, `"created_on"`, `"legal_name"`, `"siret"`, `"referent_name"`, `"referent_email"`, `"invoice_contact"`, `"support_contact"`, `"hours"`, `"referent_login"`} {
		if !bytes.Contains(data, []byte(key)) {
			t.Errorf("ContractCreated lacks %s: %s", key, data)
		}
	}
}
