// Package auth holds selfcare's credential primitives: argon2id password
// hashes, random bearer tokens stored as hashes, and constant-time checks.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters, recorded in every hash so they can evolve: OWASP's
// recommendation (19 MiB, 2 passes, 1 lane), about 150 ms on a small server.
type params struct {
	memory  uint32 // KiB
	time    uint32
	threads uint8
	keyLen  uint32
}

var (
	production = params{memory: 19 * 1024, time: 2, threads: 1, keyLen: 32}
	current    = production
)

// UseFastHashesForTests lowers the cost of new hashes so that test suites
// which create many users stay fast. Only tests call it; hashes record
// their parameters, so checking works whatever made them.
func UseFastHashesForTests() {
	current = params{memory: 1024, time: 1, threads: 1, keyLen: 32}
	dummyHash = hashWith(current, make([]byte, 16), "no such user: constant-time filler")
}

// ErrMalformedHash is returned for a stored hash this package cannot read.
var ErrMalformedHash = errors.New("auth: malformed password hash")

// HashPassword returns the PHC string of an argon2id hash of password with
// a fresh random salt, or ErrBusy when too many hashes are running.
func HashPassword(password string) (string, error) {
	salt := make([]byte, 16)
	if _, err := rand.Read(salt); err != nil {
		return "", err
	}
	var out string
	err := hashes.do(func() { out = hashWith(current, salt, password) })
	return out, err
}

func hashWith(p params, salt []byte, password string) string {
	key := argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// CheckPassword reports whether password matches the stored PHC hash, in
// time independent of where they differ. It returns ErrBusy when too many
// hashes are running.
func CheckPassword(stored, password string) (bool, error) {
	parts := strings.Split(stored, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, ErrMalformedHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, ErrMalformedHash
	}
	var p params
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.memory, &p.time, &p.threads); err != nil {
		return false, ErrMalformedHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, ErrMalformedHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return false, ErrMalformedHash
	}
	p.keyLen = uint32(len(want))
	var got []byte
	if err := hashes.do(func() { got = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, p.keyLen) }); err != nil {
		return false, err
	}
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// dummyHash is checked against when a login is unknown, so that a sign-in
// for an unknown login takes as long as one with a wrong password.
var dummyHash = hashWith(current, make([]byte, 16), "no such user: constant-time filler")

// CheckAgainstNothing burns the time of one password check and fails; it
// returns ErrBusy as CheckPassword does, so that an unknown login is
// refused exactly like a known one.
func CheckAgainstNothing(password string) error {
	_, err := CheckPassword(dummyHash, password)
	return err
}

// NewToken returns a random bearer token (256 bits, URL-safe) and the hash
// under which it is stored. The token itself is never stored.
func NewToken() (token string, hash []byte, err error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, err
	}
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashToken(token), nil
}

// HashToken is the stored form of a token.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// Equal compares two secrets in constant time.
func Equal(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
