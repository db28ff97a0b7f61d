// Package secrets turns selfcare's one configured secret into the keys of
// each purpose (signing SSO assertions, encrypting access-key secrets,
// deriving mailed tokens, chaining the audit log), and generates that secret
// once into the data directory when none is configured.
package secrets

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Keys derives purpose-bound keys from the root secret.
type Keys struct {
	root []byte
}

// FromSecret returns the keys of a configured secret (at least 32 characters).
func FromSecret(secret string) (*Keys, error) {
	if len(secret) < 32 {
		return nil, errors.New("SELFCARE_SECRET must be at least 32 characters")
	}
	return &Keys{root: []byte(secret)}, nil
}

// LoadOrCreate reads the secret file in dir, creating it (0600, 256 random
// bits) on first use.
func LoadOrCreate(dir string) (*Keys, error) {
	path := filepath.Join(dir, "secret.key")
	b, err := os.ReadFile(path)
	if err == nil {
		return FromSecret(strings.TrimSpace(string(b)))
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read secret: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return nil, err
	}
	secret := hex.EncodeToString(raw)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return LoadOrCreate(dir) // another process created it first
	}
	if err != nil {
		return nil, fmt.Errorf("create secret: %w", err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	return FromSecret(secret)
}

// Derive returns a 32-byte key for purpose (HKDF-SHA256).
func (k *Keys) Derive(purpose string) []byte {
	key, err := hkdf.Key(sha256.New, k.root, nil, "selfcare:"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths HKDF cannot produce
	}
	return key
}

// MAC returns HMAC-SHA256 of msg under the purpose's key.
func (k *Keys) MAC(purpose string, msg []byte) []byte {
	m := hmac.New(sha256.New, k.Derive(purpose))
	m.Write(msg)
	return m.Sum(nil)
}

// SigningKey returns the Ed25519 key pair of purpose.
func (k *Keys) SigningKey(purpose string) ed25519.PrivateKey {
	return ed25519.NewKeyFromSeed(k.Derive(purpose))
}

// Seal encrypts plaintext with AES-256-GCM under the purpose's key; the
// nonce is prepended. aad binds the ciphertext to its context (e.g. the
// access key id), so it cannot be moved to another row.
func (k *Keys) Seal(purpose string, plaintext, aad []byte) ([]byte, error) {
	gcm, err := k.gcm(purpose)
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, gcm.NonceSize())
	if _, err := io.ReadFull(rand.Reader, nonce); err != nil {
		return nil, err
	}
	return gcm.Seal(nonce, nonce, plaintext, aad), nil
}

// Open decrypts what Seal produced.
func (k *Keys) Open(purpose string, sealed, aad []byte) ([]byte, error) {
	gcm, err := k.gcm(purpose)
	if err != nil {
		return nil, err
	}
	if len(sealed) < gcm.NonceSize() {
		return nil, errors.New("secrets: sealed data too short")
	}
	return gcm.Open(nil, sealed[:gcm.NonceSize()], sealed[gcm.NonceSize():], aad)
}

func (k *Keys) gcm(purpose string) (cipher.AEAD, error) {
	block, err := aes.NewCipher(k.Derive(purpose))
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}
