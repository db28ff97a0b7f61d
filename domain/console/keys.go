package console

import (
	"fmt"
	"io"
)

// Access key formats.
const (
	AccessKeyIDLength     = 20 // uppercase letters and digits
	SecretAccessKeyLength = 40 // letters and digits
)

const (
	upperAlnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	alnum      = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	digits     = "0123456789"
)

// AccessKey is a freshly generated access key: the id, kept in events, and
// the secret, shown to the user once and then stored only hashed or
// encrypted.
type AccessKey struct {
	ID     string
	Secret string
}

// NewAccessKey draws an access key id and secret from random
// (crypto/rand.Reader in production). It returns random's error if it
// fails.
func NewAccessKey(random io.Reader) (AccessKey, error) {
	id, err := randomString(random, upperAlnum, AccessKeyIDLength)
	if err != nil {
		return AccessKey{}, fmt.Errorf("console: access key id: %w", err)
	}
	secret, err := randomString(random, alnum, SecretAccessKeyLength)
	if err != nil {
		return AccessKey{}, fmt.Errorf("console: secret access key: %w", err)
	}
	return AccessKey{ID: id, Secret: secret}, nil
}

// ValidAccessKeyID reports whether s is 20 uppercase letters and digits.
func ValidAccessKeyID(s string) bool { return len(s) == AccessKeyIDLength && only(s, upperAlnum) }

// ValidSecretAccessKey reports whether s is 40 letters and digits.
func ValidSecretAccessKey(s string) bool {
	return len(s) == SecretAccessKeyLength && only(s, alnum)
}

func only(s, alphabet string) bool {
	for i := 0; i < len(s); i++ {
		found := false
		for j := 0; j < len(alphabet); j++ {
			found = found || s[i] == alphabet[j]
		}
		if !found {
			return false
		}
	}
	return true
}

// randomString draws n characters of alphabet uniformly from random, by
// rejection sampling: bytes at or above the largest multiple of
// len(alphabet) are dropped so no character is favoured.
func randomString(random io.Reader, alphabet string, n int) (string, error) {
	limit := 256 - 256%len(alphabet)
	out := make([]byte, 0, n)
	buf := make([]byte, n)
	for len(out) < n {
		chunk := buf[:n-len(out)]
		if _, err := io.ReadFull(random, chunk); err != nil {
			return "", err
		}
		for _, b := range chunk {
			if int(b) < limit {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}
