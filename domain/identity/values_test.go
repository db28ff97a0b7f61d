package identity

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"selfcare/domain"
)

// codes returns field -> codes of a *domain.ValidationError, or fails.
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

func checkCodes(t *testing.T, err error, want map[string][]string) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if got := codes(t, err); !reflect.DeepEqual(got, want) {
		t.Errorf("errors = %v, want %v", got, want)
	}
}

func TestNewLogin(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want map[string][]string
	}{
		{"guide example", "paul.dupont", nil},
		{"all allowed characters", "A-Z_a.z-09", nil},
		{"exactly 8", "abcdefgh", nil},
		{"exactly 64", strings.Repeat("a", 64), nil},
		{"surrounding spaces are ignored", "  paul.dupont ", nil},
		{"empty", "", map[string][]string{"login": {"required"}}},
		{"7 characters", "abcdefg", map[string][]string{"login": {"too_short"}}},
		{"65 characters", strings.Repeat("a", 65), map[string][]string{"login": {"too_long"}}},
		{"accents are refused", "héloïse.martin", map[string][]string{"login": {"invalid_chars"}}},
		{"inner space", "paul dupont", map[string][]string{"login": {"invalid_chars"}}},
		{"at sign", "paul@dupont", map[string][]string{"login": {"invalid_chars"}}},
		{"short and bad", "é+", map[string][]string{"login": {"too_short", "invalid_chars"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, err := NewLogin(tt.in)
			checkCodes(t, err, tt.want)
			if tt.want == nil && l.String() != strings.TrimSpace(tt.in) {
				t.Errorf("login = %q", l)
			}
		})
	}
}

func TestLoginKeyIgnoresCase(t *testing.T) {
	a, _ := NewLogin("Paul.Dupont")
	b, _ := NewLogin("paul.DUPONT")
	if a.Key() != b.Key() || a.String() == b.String() {
		t.Errorf("keys %q %q, strings %q %q", a.Key(), b.Key(), a, b)
	}
	if Stream("Paul.Dupont") != "identity-paul.dupont" {
		t.Errorf("stream = %s", Stream("Paul.Dupont"))
	}
}

func TestNewEmail(t *testing.T) {
	tests := []struct {
		in   string
		want string // code, "" when valid
	}{
		{"paul.dupont@orangecloud.com", ""},
		{"Paul.Dupont@OrangeCloud.com", ""},
		{"adv.itsservices@orange.com", ""},
		{"a+tag@sub.example.co.uk", ""},
		{"x@xn--bcher-kva.example", ""},
		{"", "required"},
		{"paul.dupont", "invalid"},
		{"paul@localhost", "invalid"},
		{"paul@@example.com", "invalid"},
		{"pa ul@example.com", "invalid"},
		{".paul@example.com", "invalid"},
		{"pa..ul@example.com", "invalid"},
		{"paul@-example.com", "invalid"},
		{"paul@example..com", "invalid"},
		{"paul@example.123", "invalid"},
		{"Paul <paul@example.com>", "invalid"},
		{"pâul@example.com", "invalid"},
		{strings.Repeat("a", 64) + "@" + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".com", "too_long"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			e, err := NewEmail(tt.in)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if e.String() != tt.in {
					t.Errorf("stored %q, want as typed %q", e, tt.in)
				}
				return
			}
			checkCodes(t, err, map[string][]string{"email": {tt.want}})
		})
	}
}

func TestEmailKeyIsLowerCased(t *testing.T) {
	e, _ := NewEmail("Paul.Dupont@OrangeCloud.com")
	if e.Key() != "paul.dupont@orangecloud.com" || EmailStream(e) != "email-paul.dupont@orangecloud.com" {
		t.Errorf("key %q stream %q", e.Key(), EmailStream(e))
	}
}

func TestNewPhone(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"0101010101", ""},
		{"0810 007 580", ""},
		{"+33 (0)6 12.34-56-78", ""},
		{"123456", ""},
		{"12345", "too_short"},
		{"+" + strings.Repeat("1", 21), "too_long"},
		{"06 12 34 56 7a", "invalid"},
		{"06+12345678", "invalid"},
		{"", "required"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := NewPhone(tt.in)
			if tt.want == "" {
				checkCodes(t, err, nil)
				return
			}
			checkCodes(t, err, map[string][]string{"phone": {tt.want}})
		})
	}
}

func TestCivilityAndLanguage(t *testing.T) {
	for _, s := range []string{"mrs", "mr"} {
		if _, err := NewCivility(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	checkCodes(t, func() error { _, err := NewCivility("ms"); return err }(), map[string][]string{"civility": {"invalid"}})
	checkCodes(t, func() error { _, err := NewCivility(""); return err }(), map[string][]string{"civility": {"required"}})
	for _, s := range []string{"fr", "en"} {
		if l, err := NewLanguage(s); err != nil || string(l) != s {
			t.Errorf("%s: %v %v", s, l, err)
		}
	}
	if l, err := NewLanguage(""); err != nil || l != French {
		t.Errorf("empty language gives %v %v, want fr", l, err)
	}
	checkCodes(t, func() error { _, err := NewLanguage("de"); return err }(), map[string][]string{"language": {"invalid"}})
}

func validPerson() PersonInput {
	return PersonInput{Civility: "mr", LastName: "Dupont", FirstName: "Paul", Phone: "0101010101", Language: "fr"}
}

func TestNewPerson(t *testing.T) {
	tests := []struct {
		name   string
		change func(*PersonInput)
		want   map[string][]string
	}{
		{"landline only", func(p *PersonInput) {}, nil},
		{"mobile only", func(p *PersonInput) { p.Phone, p.Mobile = "", "06 12 34 56 78" }, nil},
		{"both phones", func(p *PersonInput) { p.Mobile = "+33612345678" }, nil},
		{"at least one phone is required", func(p *PersonInput) { p.Phone, p.Mobile = "", "  " },
			map[string][]string{"phone": {"phone_or_mobile_required"}}},
		{"a bad mobile is reported on mobile", func(p *PersonInput) { p.Mobile = "call me" },
			map[string][]string{"mobile": {"invalid"}}},
		{"names are required", func(p *PersonInput) { p.LastName, p.FirstName = "", " " },
			map[string][]string{"last_name": {"required"}, "first_name": {"required"}}},
		{"control characters refused", func(p *PersonInput) { p.LastName = "Du\x00pont" },
			map[string][]string{"last_name": {"invalid_chars"}}},
		{"accents welcome in names", func(p *PersonInput) { p.FirstName = "Hélène-Zoé" }, nil},
		{"every problem at once", func(p *PersonInput) {
			*p = PersonInput{Civility: "dr", LastName: strings.Repeat("x", 101), Language: "de"}
		}, map[string][]string{
			"civility": {"invalid"}, "last_name": {"too_long"}, "first_name": {"required"},
			"phone": {"phone_or_mobile_required"}, "language": {"invalid"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := validPerson()
			tt.change(&in)
			p, err := NewPerson(in)
			checkCodes(t, err, tt.want)
			if tt.want == nil && p.LastName() != strings.TrimSpace(in.LastName) {
				t.Errorf("last name %q", p.LastName())
			}
		})
	}
}

func TestNewRegistrationCollectsEveryError(t *testing.T) {
	_, err := NewRegistration(RegistrationInput{Login: "paul", Email: "nope", PersonInput: PersonInput{Civility: "mr", LastName: "D", FirstName: "P"}})
	checkCodes(t, err, map[string][]string{
		"login": {"too_short"}, "email": {"invalid"}, "phone": {"phone_or_mobile_required"},
	})
}
