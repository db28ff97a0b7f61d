package order

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"selfcare/domain"
)

// maxCodeLetters is the number of letters of a contract code at most.
const maxCodeLetters = 5

// ContractCode is the prefix of a contract's order references, such as
// "HONEY1655" for contract OCB0001655 named "Honey...". The rule:
//
//   - the ASCII letters of the contract name, in order, upper-cased, at most
//     five ("SL_Prod" → "SLPRO"; accented and other characters are
//     skipped: "Société" → "SOCIT"); "OCB" if the name has none;
//   - then the digits of the contract id without leading zeros
//     ("OCB0000124" → "124"; "0" if they are all zeros).
//
// So OCB0000124 "SL_Prod" → "SLPRO124". Since the number is the contract's,
// two contracts never share a code, and ParseRef can tell the contract of a
// reference even after the contract is renamed.
func ContractCode(contractID, contractName string) string {
	var letters strings.Builder
	for _, r := range contractName {
		if letters.Len() == maxCodeLetters {
			break
		}
		switch {
		case r >= 'A' && r <= 'Z':
			letters.WriteRune(r)
		case r >= 'a' && r <= 'z':
			letters.WriteRune(r - 'a' + 'A')
		}
	}
	prefix := letters.String()
	if prefix == "" {
		prefix = "OCB"
	}
	digits := strings.TrimLeft(strings.TrimPrefix(contractID, "OCB"), "0")
	if digits == "" {
		digits = "0"
	}
	return prefix + digits
}

// FormatRef returns the reference of the seq-th order of a contract placed
// at placedAt: "<contract code>-<YYMM>-<NNN>", YYMM being the UTC year and
// month of placement and NNN the sequence number, zero-padded to three
// digits and wider past 999: "SLPRO124-2611-007", "SLPRO124-2611-1000".
func FormatRef(contractCode string, placedAt time.Time, seq int) string {
	return fmt.Sprintf("%s-%s-%03d", contractCode, placedAt.UTC().Format("0601"), seq)
}

// Ref is an order reference taken apart.
type Ref struct {
	// ContractCode is the prefix ("SLPRO124").
	ContractCode string
	// ContractID is the contract the reference belongs to ("OCB0000124").
	ContractID string
	// Year and Month of placement (UTC).
	Year  int
	Month time.Month
	// Seq is the per-contract sequence number.
	Seq int
}

// String returns the reference.
func (r Ref) String() string {
	return fmt.Sprintf("%s-%02d%02d-%03d", r.ContractCode, r.Year%100, int(r.Month), r.Seq)
}

// ParseRef takes a reference apart. A malformed reference names no order:
// the error wraps domain.ErrNotFound.
func ParseRef(s string) (Ref, error) {
	bad := fmt.Errorf("order %q: %w", s, domain.ErrNotFound)
	code, rest, ok1 := strings.Cut(s, "-")
	yymm, nnn, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 || !validContractCode(code) || len(yymm) != 4 || !allDigits(yymm) || len(nnn) < 3 || !allDigits(nnn) {
		return Ref{}, bad
	}
	yy, _ := strconv.Atoi(yymm[:2])
	mm, _ := strconv.Atoi(yymm[2:])
	seq, err := strconv.Atoi(nnn)
	if err != nil || mm < 1 || mm > 12 || seq < 1 || (len(nnn) > 3 && nnn[0] == '0') {
		return Ref{}, bad
	}
	number := strings.TrimLeft(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	n, _ := strconv.Atoi(number)
	return Ref{
		ContractCode: code,
		ContractID:   fmt.Sprintf("OCB%07d", n),
		Year:         2000 + yy,
		Month:        time.Month(mm),
		Seq:          seq,
	}, nil
}

// validContractCode: 1 to 5 upper-case letters, then 1 to 7 digits without
// leading zero (or just "0").
func validContractCode(code string) bool {
	number := strings.TrimLeft(code, "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
	letters := len(code) - len(number)
	if letters < 1 || letters > maxCodeLetters || number == "" || len(number) > 7 || !allDigits(number) {
		return false
	}
	return number == "0" || number[0] != '0'
}

func allDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
