package identity

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"selfcare/domain"
)

// Strength is how strong an accepted password is (SPEC §4).
type Strength string

// The strengths.
const (
	Medium Strength = "medium" // 8 or 9 characters
	Strong Strength = "strong" // 10 characters or more
)

// Password length bounds, in characters. The upper bound only keeps hashing
// cheap; it is far above anything a person types.
const (
	MinPasswordLength    = 8
	StrongPasswordLength = 10
	MaxPasswordLength    = 128
)

// PasswordSpecials are the special characters of which a password needs at
// least one (SPEC §4). Other printable characters are allowed too, but do
// not count as special.
const PasswordSpecials = "#!.@_-/"

// CheckPassword applies the password policy of SPEC §4 to password, for the
// identity whose login is login (may be empty when unknown). It returns the
// strength of an accepted password, or a *domain.ValidationError listing on
// field every rule the password breaks, with codes:
//
//	required           empty
//	too_short          fewer than 8 characters
//	too_long           more than 128 characters
//	missing_lowercase  no lower-case letter
//	missing_uppercase  no upper-case letter
//	missing_digit      no digit
//	missing_special    none of # ! . @ _ - /
//	invalid_chars      a control or other non-printable character, or bad UTF-8
//	same_as_login      equal to the login, ignoring case
//	common_password    a common or breached password (see isCommonPassword)
//
// The same policy serves the customer-area password and the console API
// password.
func CheckPassword(field, password, login string) (Strength, error) {
	var v domain.ValidationError
	if password == "" {
		v.Add(field, "required", "a password is required")
		return "", v.Err()
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLength {
		v.Add(field, "too_short", "a password has at least %d characters", MinPasswordLength)
	}
	if n > MaxPasswordLength {
		v.Add(field, "too_long", "a password has at most %d characters", MaxPasswordLength)
	}
	var lower, upper, digit, special, bad bool
	if !utf8.ValidString(password) {
		bad = true
	}
	for _, r := range password {
		switch {
		case r == utf8.RuneError || !unicode.IsPrint(r):
			bad = true
		case unicode.IsLower(r):
			lower = true
		case unicode.IsUpper(r):
			upper = true
		case r >= '0' && r <= '9':
			digit = true
		case strings.ContainsRune(PasswordSpecials, r):
			special = true
		}
	}
	if !lower {
		v.Add(field, "missing_lowercase", "a password has at least one lower-case letter")
	}
	if !upper {
		v.Add(field, "missing_uppercase", "a password has at least one upper-case letter")
	}
	if !digit {
		v.Add(field, "missing_digit", "a password has at least one digit")
	}
	if !special {
		v.Add(field, "missing_special", "a password has at least one of %s", strings.Join(strings.Split(PasswordSpecials, ""), " "))
	}
	if bad {
		v.Add(field, "invalid_chars", "a password has only printable characters")
	}
	if login != "" && strings.EqualFold(password, strings.TrimSpace(login)) {
		v.Add(field, "same_as_login", "a password differs from the login")
	}
	if isCommonPassword(password) {
		v.Add(field, "common_password", "this password is too common; choose another")
	}
	if err := v.Err(); err != nil {
		return "", err
	}
	if n >= StrongPasswordLength {
		return Strong, nil
	}
	return Medium, nil
}

// CheckPasswordConfirmation returns a *domain.ValidationError on field
// "confirm_password", code "mismatch", unless confirm equals password.
func CheckPasswordConfirmation(password, confirm string) error {
	if password != confirm {
		return domain.Invalid("confirm_password", "mismatch", "the two passwords differ")
	}
	return nil
}

//go:embed data/common-passwords.txt.gz
var commonPasswordsGz []byte

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	zr, err := gzip.NewReader(bytes.NewReader(commonPasswordsGz))
	if err != nil {
		panic("identity: embedded common password list: " + err.Error())
	}
	set := make(map[string]struct{}, 30000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		if w := sc.Text(); w != "" {
			set[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		panic("identity: embedded common password list: " + err.Error())
	}
	return set
})

// CommonPasswordCount returns the size of the embedded common password list.
func CommonPasswordCount() int { return len(commonPasswords()) }

// isCommonPassword reports whether password is, or is built on, one of the
// 30,000 most common passwords (data/README.md). Matching ignores case. The
// composition rules push people to decorate a common word rather than pick a
// new one: "Password1!" is "password" with a capital, a digit and a special
// stuck on. So a password is refused when any of these is in the list:
//
//   - the password itself;
//   - its base: the password without the digits, specials and other
//     non-letters at its start and end ("Password1!" -> "password",
//     "2024Soleil!" -> "soleil");
//   - the base with the usual look-alike substitutions undone
//     ("P@ssw0rd1!" -> "p@ssw0rd" -> "password"; "1" is tried as both
//     "i" and "l").
func isCommonPassword(password string) bool {
	list := commonPasswords()
	lower := strings.ToLower(password)
	if _, ok := list[lower]; ok {
		return true
	}
	base := strings.TrimFunc(lower, func(r rune) bool { return !unicode.IsLetter(r) })
	if base == "" {
		return false
	}
	for _, candidate := range []string{base, unleet(base, 'i'), unleet(base, 'l')} {
		if _, ok := list[candidate]; ok {
			return true
		}
	}
	return false
}

// unleet undoes common look-alike substitutions, reading "1" as one.
func unleet(s string, one rune) string {
	return strings.Map(func(r rune) rune {
		switch r {
		case '@', '4':
			return 'a'
		case '0':
			return 'o'
		case '3':
			return 'e'
		case '$', '5':
			return 's'
		case '7':
			return 't'
		case '!', '|', '1':
			return one
		}
		return r
	}, s)
}
