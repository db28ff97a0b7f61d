package identity

import (
	"strings"
	"testing"
)

func TestPasswordPolicy(t *testing.T) {
	tests := []struct {
		name     string
		password string
		login    string
		want     Strength
		codes    []string
	}{
		{"8 characters is medium", "Kz7#qmWv", "paul.dupont", Medium, nil},
		{"9 characters is medium", "Kz7#qmWvx", "paul.dupont", Medium, nil},
		{"10 characters is strong", "Kz7#qmWvxr", "paul.dupont", Strong, nil},
		{"every listed special counts", "Kz7/qmWvxr", "", Strong, nil},
		{"other printable characters are allowed", "Kz7_qm Wv€é", "", Strong, nil},
		{"empty", "", "", "", []string{"required"}},
		{"7 characters", "Kz7#qmW", "", "", []string{"too_short"}},
		{"no lowercase", "KZ7#QMWV", "", "", []string{"missing_lowercase"}},
		{"no uppercase", "kz7#qmwv", "", "", []string{"missing_uppercase"}},
		{"no digit", "Kzq#qmWv", "", "", []string{"missing_digit"}},
		{"no special of the list", "Kz7$qmWv", "", "", []string{"missing_special"}},
		{"control characters are refused", "Kz7#qm\tWv", "", "", []string{"invalid_chars"}},
		{"invalid UTF-8 is refused", "Kz7#qmWv\xff", "", "", []string{"invalid_chars"}},
		{"too long", "Kz7#" + strings.Repeat("qmWvx", 25), "", "", []string{"too_long"}},
		{"same as the login, ignoring case", "Paul.Dupont-1", "paul.dupont-1", "", []string{"same_as_login"}},
		{"several rules at once", "abc", "", "", []string{"too_short", "missing_uppercase", "missing_digit", "missing_special"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := CheckPassword("new_password", tt.password, tt.login)
			if tt.codes == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got != tt.want {
					t.Errorf("strength = %s, want %s", got, tt.want)
				}
				return
			}
			if got != "" {
				t.Errorf("refused password has strength %q", got)
			}
			checkCodes(t, err, map[string][]string{"new_password": tt.codes})
		})
	}
}

func TestCommonPasswordsAreRefused(t *testing.T) {
	tests := []struct {
		password string
		common   bool
	}{
		{"Password1!", true},         // "password" decorated
		{"PASSWORD#2024", true},      // case ignored, digits and specials at the end
		{"2024!Sunshine", true},      // ... or at the start
		{"P@ssw0rd1!", true},         // look-alikes undone
		{"Azerty123!", true},         // French keyboards have their own classics
		{"Soleil.2025", true},        // a common French password
		{"Motdepasse1!", true},       // "mot de passe"
		{"Il0v3Y0u#1", true},         // "iloveyou" in look-alikes
		{"D1amond#77", true},         // "1" read as "i"
		{"Dr4g0n_2023", true},        // look-alikes and a year
		{"Qwertyuiop1!", true},       // keyboard walk in the list
		{"Kz7#qmWvxr", false},        // random
		{"Blue-Tiger.Canoe9", false}, // words, but not one common password
		{"Plm#92kDro", false},
	}
	for _, tt := range tests {
		t.Run(tt.password, func(t *testing.T) {
			_, err := CheckPassword("new_password", tt.password, "")
			if !tt.common {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			got := codes(t, err)["new_password"]
			found := false
			for _, c := range got {
				found = found || c == "common_password"
			}
			if !found {
				t.Errorf("codes %v lack common_password", got)
			}
		})
	}
}

func TestCommonPasswordListIsEmbedded(t *testing.T) {
	if n := CommonPasswordCount(); n < 10000 {
		t.Errorf("the common password list has %d entries, want at least 10,000", n)
	}
}

func TestPasswordConfirmation(t *testing.T) {
	if err := CheckPasswordConfirmation("Kz7#qmWvxr", "Kz7#qmWvxr"); err != nil {
		t.Error(err)
	}
	checkCodes(t, CheckPasswordConfirmation("Kz7#qmWvxr", "kz7#qmWvxr"),
		map[string][]string{"confirm_password": {"mismatch"}})
}
