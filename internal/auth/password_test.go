package auth

import (
	"strings"
	"testing"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	h, err := HashPassword("Correct-Horse.42")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("unexpected hash format %q", h)
	}
	if strings.Contains(h, "Correct-Horse") {
		t.Fatal("hash contains the password")
	}
	ok, err := CheckPassword(h, "Correct-Horse.42")
	if err != nil || !ok {
		t.Fatalf("right password refused: %v %v", ok, err)
	}
	ok, err = CheckPassword(h, "Correct-Horse.43")
	if err != nil || ok {
		t.Fatalf("wrong password accepted: %v %v", ok, err)
	}
	h2, _ := HashPassword("Correct-Horse.42")
	if h2 == h {
		t.Fatal("two hashes of one password share a salt")
	}
}

func TestMalformedHashIsAnError(t *testing.T) {
	for _, h := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=x,t=1,p=1$AA$AA"} {
		if _, err := CheckPassword(h, "x"); err != ErrMalformedHash {
			t.Errorf("CheckPassword(%q) error = %v, want ErrMalformedHash", h, err)
		}
	}
}

func TestTokensAreRandomAndStoredHashed(t *testing.T) {
	tok1, h1, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, _ := NewToken()
	if tok1 == tok2 || len(tok1) < 40 {
		t.Fatalf("weak tokens %q %q", tok1, tok2)
	}
	if string(HashToken(tok1)) != string(h1) {
		t.Fatal("HashToken does not match the hash given at creation")
	}
	if strings.Contains(string(h1), tok1) {
		t.Fatal("hash holds the token")
	}
}
