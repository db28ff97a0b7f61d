package identity

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"selfcare/domain"
)

// Login is the identifier of an identity ("Orange account"): 8 to 64
// characters among A-Z a-z 0-9 . _ - (no accents). It keeps the case it was
// typed with; Key gives the lower-cased form that identifies it.
type Login struct{ s string }

// Login length bounds (SPEC §1).
const (
	MinLoginLength = 8
	MaxLoginLength = 64
)

// NewLogin validates s (surrounding spaces ignored) as a login. It returns a
// *domain.ValidationError on field "login" with every problem found: code
// "required", "too_short", "too_long" or "invalid_chars".
func NewLogin(s string) (Login, error) {
	l, v := parseLogin("login", s)
	return l, v.Err()
}

func parseLogin(field, s string) (Login, *domain.ValidationError) {
	v := &domain.ValidationError{}
	s = strings.TrimSpace(s)
	if s == "" {
		v.Add(field, "required", "a login is required")
		return Login{}, v
	}
	n := utf8.RuneCountInString(s)
	if n < MinLoginLength {
		v.Add(field, "too_short", "a login has at least %d characters", MinLoginLength)
	}
	if n > MaxLoginLength {
		v.Add(field, "too_long", "a login has at most %d characters", MaxLoginLength)
	}
	for _, r := range s {
		if !isLoginChar(r) {
			v.Add(field, "invalid_chars", "a login has only letters without accents, digits and . _ -")
			break
		}
	}
	if len(v.Errors) > 0 {
		return Login{}, v
	}
	return Login{s: s}, v
}

func isLoginChar(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
		r == '.' || r == '_' || r == '-'
}

// String returns the login as typed.
func (l Login) String() string { return l.s }

// Key returns the lower-cased login: two logins with the same key are the
// same identity. Identity streams are keyed by it.
func (l Login) Key() string { return LoginKey(l.s) }

// IsZero reports whether l is the zero Login.
func (l Login) IsZero() bool { return l.s == "" }

// Email is an email address, kept as typed (trimmed). Uniqueness across
// identities is on Key, the lower-cased address.
type Email struct{ s string }

// MaxEmailLength is the longest address accepted (RFC 5321 path limit).
const MaxEmailLength = 254

// NewEmail validates s (surrounding spaces ignored) as an email address. It
// returns a *domain.ValidationError on field "email": code "required",
// "too_long" or "invalid".
func NewEmail(s string) (Email, error) {
	e, err := parseEmail("email", s)
	return e, err
}

func parseEmail(field, s string) (Email, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return Email{}, domain.Invalid(field, "required", "an email address is required")
	case len(s) > MaxEmailLength:
		return Email{}, domain.Invalid(field, "too_long", "an email address has at most %d characters", MaxEmailLength)
	case !validEmail(s):
		return Email{}, domain.Invalid(field, "invalid", "%q is not a valid email address", s)
	}
	return Email{s: s}, nil
}

// validEmail is a deliberately plain check, not RFC 5322: one "@", a local
// part of printable ASCII without spaces, quotes or brackets and without
// leading, trailing or doubled dots, and a domain of at least two DNS labels
// whose last one is not all digits.
func validEmail(s string) bool {
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 || strings.Count(s, "@") != 1 {
		return false
	}
	local, dom := s[:at], s[at+1:]
	if len(local) > 64 || local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return false
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),:;<>[\]`, c) >= 0 {
			return false
		}
	}
	labels := strings.Split(dom, ".")
	if len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	tld := labels[len(labels)-1]
	return strings.IndexFunc(tld, func(r rune) bool { return r < '0' || r > '9' }) >= 0
}

// String returns the address as typed.
func (e Email) String() string { return e.s }

// Key returns the lower-cased address, which must be unique across
// identities (see EmailClaim).
func (e Email) Key() string { return strings.ToLower(e.s) }

// IsZero reports whether e is the zero Email.
func (e Email) IsZero() bool { return e.s == "" }

// Civility is how to address a person: "mrs" or "mr".
type Civility string

// The civilities.
const (
	Mrs Civility = "mrs"
	Mr  Civility = "mr"
)

// NewCivility validates s. It returns a *domain.ValidationError on field
// "civility": code "required" or "invalid".
func NewCivility(s string) (Civility, error) {
	switch c := Civility(strings.TrimSpace(s)); c {
	case Mrs, Mr:
		return c, nil
	case "":
		return "", domain.Invalid("civility", "required", "a civility is required (mrs or mr)")
	default:
		return "", domain.Invalid("civility", "invalid", "civility is mrs or mr, not %q", s)
	}
}

// Language is the display and email language of a person: "fr" or "en".
type Language string

// The languages.
const (
	French  Language = "fr"
	English Language = "en"
)

// NewLanguage validates s; an empty s is French, the form's default
// (guide §5.9.1). It returns a *domain.ValidationError on field "language",
// code "invalid".
func NewLanguage(s string) (Language, error) {
	switch l := Language(strings.TrimSpace(s)); l {
	case French, English:
		return l, nil
	case "":
		return French, nil
	default:
		return "", domain.Invalid("language", "invalid", "language is fr or en, not %q", s)
	}
}

// Phone is a landline or mobile number as typed: digits, spaces, ".", "-",
// parentheses and a leading "+", with 6 to 20 digits ("0810 007 580",
// "+33 6 12 34 56 78").
type Phone struct{ s string }

// Phone digit-count bounds.
const (
	MinPhoneDigits = 6
	MaxPhoneDigits = 20
)

// NewPhone validates s (surrounding spaces ignored) as a phone number. It
// returns a *domain.ValidationError on field "phone": code "required",
// "invalid" (a character not allowed), "too_short" or "too_long" (digit
// count).
func NewPhone(s string) (Phone, error) { return parsePhone("phone", s) }

func parsePhone(field, s string) (Phone, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return Phone{}, domain.Invalid(field, "required", "a phone number is required")
	}
	digits := 0
	for i, r := range s {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == ' ' || r == '.' || r == '-' || r == '(' || r == ')':
		case r == '+' && i == 0:
		default:
			return Phone{}, domain.Invalid(field, "invalid", "a phone number has only digits, spaces, . - ( ) and a leading +")
		}
	}
	switch {
	case digits < MinPhoneDigits:
		return Phone{}, domain.Invalid(field, "too_short", "a phone number has at least %d digits", MinPhoneDigits)
	case digits > MaxPhoneDigits:
		return Phone{}, domain.Invalid(field, "too_long", "a phone number has at most %d digits", MaxPhoneDigits)
	}
	return Phone{s: s}, nil
}

// String returns the number as typed.
func (p Phone) String() string { return p.s }

// IsZero reports whether no number is set.
func (p Phone) IsZero() bool { return p.s == "" }

// MaxNameLength bounds first and last names.
const MaxNameLength = 100

// parseName validates a first or last name: required, at most
// MaxNameLength characters, no control or other non-printable characters.
func parseName(field, s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", domain.Invalid(field, "required", "this name is required")
	case utf8.RuneCountInString(s) > MaxNameLength:
		return "", domain.Invalid(field, "too_long", "a name has at most %d characters", MaxNameLength)
	case !printable(s):
		return "", domain.Invalid(field, "invalid_chars", "a name has only printable characters")
	}
	return s, nil
}

// printable reports whether s is valid UTF-8 made only of printable
// characters (unicode.IsPrint: letters, marks, numbers, punctuation,
// symbols and the ASCII space).
func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

// Person is the personal data of an identity. A Person from NewPerson or
// Person.Update is valid: names set, civility and language known, and at
// least one of landline or mobile.
type Person struct {
	civility  Civility
	lastName  string
	firstName string
	phone     Phone
	mobile    Phone
	language  Language
}

// PersonInput is personal data as typed in a form or an API body.
type PersonInput struct {
	Civility  string `json:"civility"`
	LastName  string `json:"last_name"`
	FirstName string `json:"first_name"`
	Phone     string `json:"phone"`
	Mobile    string `json:"mobile"`
	Language  string `json:"language"`
}

// NewPerson validates personal data. It returns one *domain.ValidationError
// listing every problem, on fields "civility", "last_name", "first_name",
// "phone", "mobile" and "language"; when both phones are empty, field
// "phone" has code "phone_or_mobile_required".
func NewPerson(in PersonInput) (Person, error) {
	var v domain.ValidationError
	var p Person
	var err error
	if p.civility, err = NewCivility(in.Civility); err != nil {
		v.Merge("", err)
	}
	if p.lastName, err = parseName("last_name", in.LastName); err != nil {
		v.Merge("", err)
	}
	if p.firstName, err = parseName("first_name", in.FirstName); err != nil {
		v.Merge("", err)
	}
	if strings.TrimSpace(in.Phone) != "" {
		if p.phone, err = parsePhone("phone", in.Phone); err != nil {
			v.Merge("", err)
		}
	}
	if strings.TrimSpace(in.Mobile) != "" {
		if p.mobile, err = parsePhone("mobile", in.Mobile); err != nil {
			v.Merge("", err)
		}
	}
	if strings.TrimSpace(in.Phone) == "" && strings.TrimSpace(in.Mobile) == "" {
		v.Add("phone", "phone_or_mobile_required", "a landline or a mobile number is required")
	}
	if p.language, err = NewLanguage(in.Language); err != nil {
		v.Merge("", err)
	}
	if err := v.Err(); err != nil {
		return Person{}, err
	}
	return p, nil
}

// Input returns the person as a PersonInput (for forms and updates).
func (p Person) Input() PersonInput {
	return PersonInput{
		Civility: string(p.civility), LastName: p.lastName, FirstName: p.firstName,
		Phone: p.phone.s, Mobile: p.mobile.s, Language: string(p.language),
	}
}

// Civility returns the civility.
func (p Person) Civility() Civility { return p.civility }

// LastName returns the last name.
func (p Person) LastName() string { return p.lastName }

// FirstName returns the first name.
func (p Person) FirstName() string { return p.firstName }

// Phone returns the landline number, maybe zero.
func (p Person) Phone() Phone { return p.phone }

// Mobile returns the mobile number, maybe zero.
func (p Person) Mobile() Phone { return p.mobile }

// Language returns the preferred language.
func (p Person) Language() Language { return p.language }

// IsZero reports whether p is the zero Person.
func (p Person) IsZero() bool { return p == Person{} }
