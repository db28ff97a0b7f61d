package order

import (
	"errors"
	"testing"
	"time"

	"selfcare/domain"
)

func TestContractCodeIsFiveLettersOfTheNameThenTheContractNumber(t *testing.T) {
	tests := []struct {
		id, name, want string
	}{
		{"OCB0001655", "Honey Corp", "HONEY1655"},
		{"OCB0000124", "SL_Prod", "SLPRO124"},
		{"OCB0000124", "sl", "SL124"},
		{"OCB0000007", "Société Générale", "SOCIT7"}, // accented letters are skipped
		{"OCB0000124", "42 / 7", "OCB124"},           // no letter at all
		{"OCB0000124", "", "OCB124"},
		{"OCB1234567", "ab-cd", "ABCD1234567"},
		{"OCB0000000", "X", "X0"},
		{"OCB0010000", "Acme", "ACME10000"}, // inner zeros stay
	}
	for _, tt := range tests {
		if got := ContractCode(tt.id, tt.name); got != tt.want {
			t.Errorf("ContractCode(%q, %q) = %q, want %q", tt.id, tt.name, got, tt.want)
		}
	}
}

func TestReferenceIsCodeYYMMAndAPaddedSequence(t *testing.T) {
	at := func(s string) time.Time {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			panic(err)
		}
		return t
	}
	tests := []struct {
		name   string
		placed time.Time
		seq    int
		want   string
	}{
		{"first order", at("2026-11-24T10:00:00Z"), 1, "SLPRO124-2611-001"},
		{"two digits", at("2017-08-29T17:00:00Z"), 17, "SLPRO124-1708-017"},
		{"last three-digit number", at("2026-01-01T00:00:00Z"), 999, "SLPRO124-2601-999"},
		{"wider past 999", at("2026-01-01T00:00:00Z"), 1000, "SLPRO124-2601-1000"},
		{"much wider", at("2026-01-01T00:00:00Z"), 123456, "SLPRO124-2601-123456"},
		{"the UTC month counts", at("2026-12-31T23:30:00-01:00"), 5, "SLPRO124-2701-005"},
		{"year 2100 wraps to 00", at("2100-03-01T00:00:00Z"), 2, "SLPRO124-0003-002"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := FormatRef("SLPRO124", tt.placed, tt.seq); got != tt.want {
				t.Errorf("FormatRef = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseRefFindsTheContract(t *testing.T) {
	tests := []struct {
		ref  string
		want Ref
	}{
		{"HONEY1655-1708-017", Ref{"HONEY1655", "OCB0001655", 2017, time.August, 17}},
		{"SLPRO124-2611-001", Ref{"SLPRO124", "OCB0000124", 2026, time.November, 1}},
		{"OCB124-2601-1000", Ref{"OCB124", "OCB0000124", 2026, time.January, 1000}},
		{"X0-2601-001", Ref{"X0", "OCB0000000", 2026, time.January, 1}},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.ref)
		if err != nil || got != tt.want {
			t.Errorf("ParseRef(%q) = %+v, %v; want %+v", tt.ref, got, err, tt.want)
		}
		if got.String() != tt.ref {
			t.Errorf("Ref.String() = %q, want %q", got.String(), tt.ref)
		}
	}
}

func TestMalformedReferencesNameNoOrder(t *testing.T) {
	for _, ref := range []string{
		"", "SLPRO124", "SLPRO124-2611", "SLPRO124-2611-01", "slpro124-2611-001",
		"SLPRO124-2613-001", "SLPRO124-2600-001", "SLPRO124-2611-000", "SLPRO124-26-11-001",
		"TOOMANY124-2611-001", "SLPRO0124-2611-001", "SLPRO-2611-001", "124-2611-001",
		"SLPRO124-2611-0001", "SLPRO12345678-2611-001", "SLPRO124-2611-00a",
	} {
		if _, err := ParseRef(ref); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("ParseRef(%q) error = %v, want ErrNotFound", ref, err)
		}
	}
}
