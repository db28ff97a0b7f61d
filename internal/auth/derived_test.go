package auth

import (
	"testing"
	"time"

	"github.com/google/uuid"

	"selfcare/domain/console"
	"selfcare/internal/secrets"
)

func TestMailedSecretsAreDerivedFromTheEventUnderAKey(t *testing.T) {
	k1, _ := secrets.FromSecret("first-secret-0123456789abcdef01234567")
	k2, _ := secrets.FromSecret("other-secret-0123456789abcdef01234567")
	e1, e2 := uuid.New(), uuid.New()

	if LinkToken(k1, e1) != LinkToken(k1, e1) {
		t.Fatal("a link token must be derived again identically")
	}
	if LinkToken(k1, e1) == LinkToken(k1, e2) || LinkToken(k1, e1) == LinkToken(k2, e1) {
		t.Fatal("link tokens must differ by event and by key")
	}
	if n := len(LinkToken(k1, e1)); n != 43 {
		t.Fatalf("token length %d, want 43 (256 bits, base64url)", n)
	}

	code := func(k *secrets.Keys, id uuid.UUID) string {
		c, err := console.NewVerificationCode(CodeSource(k, id), time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		return c.Code
	}
	if code(k1, e1) != code(k1, e1) {
		t.Fatal("a code must be derived again identically")
	}
	seen := map[string]bool{}
	for range 200 {
		c := code(k1, uuid.New())
		if len(c) != 6 {
			t.Fatalf("code %q", c)
		}
		seen[c] = true
	}
	if len(seen) < 190 {
		t.Fatalf("only %d distinct codes in 200", len(seen))
	}
	// The stream is endless: reads beyond one MAC keep coming.
	buf := make([]byte, 100)
	if n, err := CodeSource(k1, e1).Read(buf); n != 100 || err != nil {
		t.Fatalf("read %d, %v", n, err)
	}
}
