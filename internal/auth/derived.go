package auth

import (
	"encoding/base64"
	"encoding/binary"
	"io"

	"github.com/google/uuid"

	"selfcare/internal/secrets"
)

// Mailed secrets are derived, not stored: the set-password token of a link
// and the digits of a verification code are an HMAC, under a key of their
// own, of the id of the event that records their sending. The command that
// appends the event stores only the token's hash (or the code's MAC), and
// the mail sender derives the same secret again when it renders the email,
// so a retried delivery sends the same link, no table or event ever holds
// the secret, and an event id (which auditors and billing consumers see)
// reveals nothing without the key.
const (
	purposeLinkToken        = "set-password-link"
	purposeVerificationCode = "console-verification-code"
)

// LinkToken returns the token of the set-password link sent by the
// PasswordResetRequested event eventID: 256 bits, URL-safe.
func LinkToken(keys *secrets.Keys, eventID uuid.UUID) string {
	return base64.RawURLEncoding.EncodeToString(keys.MAC(purposeLinkToken, eventID[:]))
}

// CodeSource returns the random source from which the verification code
// of the VerificationCodeSent event eventID is drawn (see
// console.NewVerificationCode): an endless HMAC stream, so the same event
// always gives the same code.
func CodeSource(keys *secrets.Keys, eventID uuid.UUID) io.Reader {
	return &macStream{keys: keys, id: eventID}
}

type macStream struct {
	keys    *secrets.Keys
	id      uuid.UUID
	counter uint64
	buf     []byte
}

func (s *macStream) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if len(s.buf) == 0 {
			msg := make([]byte, 0, len(s.id)+8)
			msg = append(msg, s.id[:]...)
			msg = binary.BigEndian.AppendUint64(msg, s.counter)
			s.counter++
			s.buf = s.keys.MAC(purposeVerificationCode, msg)
		}
		c := copy(p[n:], s.buf)
		s.buf = s.buf[c:]
		n += c
	}
	return n, nil
}
