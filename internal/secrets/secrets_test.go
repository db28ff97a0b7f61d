package secrets

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestLoadOrCreateKeepsTheSecret(t *testing.T) {
	dir := t.TempDir()
	k1, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "secret.key"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	k2, err := LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(k1.Derive("x"), k2.Derive("x")) {
		t.Fatal("a second start derived other keys")
	}
	if bytes.Equal(k1.Derive("x"), k1.Derive("y")) {
		t.Fatal("two purposes share a key")
	}
}

func TestSealOpenBindsContext(t *testing.T) {
	k, err := FromSecret("0123456789abcdef0123456789abcdef")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := k.Seal("sk", []byte("secret-access-key"), []byte("AKID1"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, []byte("secret-access-key")) {
		t.Fatal("plaintext visible in sealed data")
	}
	got, err := k.Open("sk", sealed, []byte("AKID1"))
	if err != nil || string(got) != "secret-access-key" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := k.Open("sk", sealed, []byte("AKID2")); err == nil {
		t.Fatal("sealed data opened under another context")
	}
	if _, err := k.Open("other", sealed, []byte("AKID1")); err == nil {
		t.Fatal("sealed data opened with another purpose's key")
	}
}

func TestShortSecretRefused(t *testing.T) {
	if _, err := FromSecret("short"); err == nil {
		t.Fatal("a short secret was accepted")
	}
}
