package mail

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/internal/secrets"
)

var update = flag.Bool("update", false, "rewrite the golden emails in testdata")

func params(extra map[string]string) map[string]string {
	p := map[string]string{
		"login": "julie.dupont", "email": "julie.dupont@example.com", "civility": "mrs",
		"last_name": "Dupont", "first_name": "Julie",
	}
	for k, v := range extra {
		p[k] = v
	}
	return p
}

// The emails as the notifier fills them in (see notifier.job).
var jobs = []Job{
	{Kind: KindAccess, Params: params(map[string]string{"contract_id": "OCB0000124", "contract_name": "SL_Prod", "expires_at": "2026-11-25 09:00"})},
	{Kind: KindPasswordReset, Params: params(map[string]string{"contract_id": "", "contract_name": "", "expires_at": "2026-11-25 09:00"})},
	{Kind: KindPasswordChanged, Params: params(map[string]string{"at": "2026-11-24 09:00", "reason": "change"})},
	{Kind: KindEmailChanged, Params: params(map[string]string{"at": "2026-11-24 09:00", "new_email": "julie.martin@example.org"})},
	{Kind: KindLoginReminder, Params: params(nil)},
	{Kind: KindConsoleAccess, Params: params(map[string]string{"contract_id": "OCB0000124", "contract_name": "SL_Prod", "roles": "admin, guest"})},
	{Kind: KindVerificationCode, Params: params(nil)},
	{Kind: KindOrderConfirmation, Params: params(map[string]string{
		"contract_id": "OCB0000124", "contract_name": "SL_Prod", "ref": "SLPROD-2611-001",
		"name": "Reservation c2.2xlarge 1 year without upfront", "service_code": "AD135", "placed_at": "2026-11-24 09:00",
		"price": "240.60", "monthly_price": "240.60", "initial_payment": ""})},
	{Kind: KindEmailConfirm, Params: params(map[string]string{"new_email": "julie.martin@example.org", "expires_at": "2026-11-25 09:00"})},
	{Kind: KindEmailChangeRequested, Params: params(map[string]string{"new_email": "julie.martin@example.org", "expires_at": "2026-11-25 09:00"})},
}

func TestEmailsInBothLanguages(t *testing.T) {
	keys, err := secrets.FromSecret("test-secret-0123456789abcdef0123456789")
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRenderer("https://selfcare.example.com/", keys)
	if err != nil {
		t.Fatal(err)
	}
	sixDigits := regexp.MustCompile(`\b\d{6}\b`)
	for _, lang := range []string{"fr", "en"} {
		for i, j := range jobs {
			j.Language, j.Recipient = lang, "julie.dupont@example.com"
			j.EventID = uuid.MustParse("01937f4e-0000-7000-8000-00000000000" + string(rune('0'+i)))
			m, err := r.Render(j)
			if err != nil {
				t.Fatalf("%s %s: %v", j.Kind, lang, err)
			}
			if strings.Contains(m.Text, "<no value>") || m.Subject == "" {
				t.Errorf("%s %s: incomplete email %q:\n%s", j.Kind, lang, m.Subject, m.Text)
			}
			switch j.Kind {
			case KindAccess, KindPasswordReset:
				if !strings.Contains(m.Text, "https://selfcare.example.com/?token=") {
					t.Errorf("%s %s: no link:\n%s", j.Kind, lang, m.Text)
				}
			case KindVerificationCode:
				if n := len(sixDigits.FindAllString(m.Text, -1)); n != 1 {
					t.Errorf("%s %s: %d six-digit numbers", j.Kind, lang, n)
				}
			}
			again, _ := r.Render(j)
			if again != m {
				t.Errorf("%s %s: rendering twice differs (links and codes are derived from the event)", j.Kind, lang)
			}
			golden := filepath.Join("testdata", j.Kind+"."+lang+".txt")
			got := "Subject: " + m.Subject + "\n\n" + m.Text
			if *update {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				continue
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/mail -update)", err)
			}
			if got != string(want) {
				t.Errorf("%s differs from the golden email:\n%s", golden, got)
			}
		}
	}
}

func TestBackoffDoublesUpToAnHourWithJitter(t *testing.T) {
	want := time.Second
	for n := 1; n <= 30; n++ {
		d := backoff(n)
		if d < want || d > want+want/5 {
			t.Fatalf("backoff(%d) = %v, want %v plus at most 20 %%", n, d, want)
		}
		want = min(want*2, time.Hour)
	}
}
