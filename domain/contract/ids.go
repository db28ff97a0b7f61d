package contract

import (
	"encoding/hex"
	"fmt"
	"io"
	"strconv"

	"selfcare/domain"
)

// IDPrefix starts every contract id ("OCB0000124").
const IDPrefix = "OCB"

// MaxContractNumber is the largest number a contract id can hold (7 digits).
const MaxContractNumber = 9_999_999

// FormatContractID returns the id of the n-th contract: "OCB" and n on 7
// digits. The caller allocates n from a counter, starting at 1. It panics
// if n is outside 1..MaxContractNumber: the counter has overflowed, which
// no retry can fix.
func FormatContractID(n int) string {
	if n < 1 || n > MaxContractNumber {
		panic(fmt.Sprintf("contract: number %d outside 1..%d", n, MaxContractNumber))
	}
	return fmt.Sprintf("%s%07d", IDPrefix, n)
}

// ParseContractID returns the number of contract id s. It returns a
// *domain.ValidationError on field "contract_id", code "invalid", unless s
// is "OCB" and 7 digits, not all zero.
func ParseContractID(s string) (int, error) {
	bad := domain.Invalid("contract_id", "invalid", "a contract id is OCB and 7 digits, not %q", s)
	if len(s) != len(IDPrefix)+7 || s[:len(IDPrefix)] != IDPrefix {
		return 0, bad
	}
	digits := s[len(IDPrefix):]
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, bad
		}
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 1 {
		return 0, bad
	}
	return n, nil
}

// ValidContractID reports whether s is a well-formed contract id.
func ValidContractID(s string) bool {
	_, err := ParseContractID(s)
	return err == nil
}

// PlatformIDLength is the length of a platform id: 32 lowercase hex digits,
// the console's domain id.
const PlatformIDLength = 32

// NewPlatformID draws a platform id from random (crypto/rand.Reader in
// production). It returns random's error if it cannot give 16 bytes.
func NewPlatformID(random io.Reader) (string, error) {
	var b [PlatformIDLength / 2]byte
	if _, err := io.ReadFull(random, b[:]); err != nil {
		return "", fmt.Errorf("contract: platform id: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// ValidPlatformID reports whether s is 32 lowercase hex digits.
func ValidPlatformID(s string) bool {
	if len(s) != PlatformIDLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// laPosteSIREN is the SIREN of La Poste, whose establishments' SIRETs do
// not follow the Luhn rule: the sum of their digits is a multiple of 5.
const laPosteSIREN = "356000000"

// validSIRET reports whether s (14 digits) passes the SIRET checksum: the
// Luhn algorithm, or La Poste's rule for its own establishments.
func validSIRET(s string) bool {
	if s[:9] == laPosteSIREN {
		sum := 0
		for i := 0; i < len(s); i++ {
			sum += int(s[i] - '0')
		}
		return sum%5 == 0
	}
	sum := 0
	for i := 0; i < len(s); i++ {
		d := int(s[len(s)-1-i] - '0')
		if i%2 == 1 {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
	}
	return sum%10 == 0
}
