package console

import (
	"crypto/subtle"
	"fmt"
	"io"
	"time"

	"selfcare/domain"
)

// Verification code rules (SPEC §5).
const (
	CodeDigits      = 6
	CodeValidity    = 60 * time.Second
	MaxCodeAttempts = 5
)

// Why a verification code no longer works; each is a domain.ErrGone (410).
var (
	ErrCodeExpired = fmt.Errorf("%w: this verification code has expired", domain.ErrGone)
	ErrCodeUsed    = fmt.Errorf("%w: this verification code was already used", domain.ErrGone)
	ErrCodeVoid    = fmt.Errorf("%w: this verification code is void: ask for a new one", domain.ErrGone)
)

// VerificationCode is one emailed verification code and what became of
// it. It is a record for the caller's code store, never an event: Code is
// the secret. The store keeps the latest record per console account and
// saves the record returned by Check, with a compare-and-swap on Attempts
// so that concurrent guesses cannot exceed MaxCodeAttempts.
type VerificationCode struct {
	Code      string    `json:"code"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Attempts  int       `json:"attempts"` // wrong codes entered so far
	Used      bool      `json:"used"`
}

// NewVerificationCode draws a 6-digit code from random (crypto/rand.Reader
// in production), valid CodeValidity from now. It returns random's error
// if it fails.
func NewVerificationCode(random io.Reader, now time.Time) (VerificationCode, error) {
	code, err := randomString(random, digits, CodeDigits)
	if err != nil {
		return VerificationCode{}, fmt.Errorf("console: verification code: %w", err)
	}
	now = now.UTC()
	return VerificationCode{Code: code, IssuedAt: now, ExpiresAt: now.Add(CodeValidity)}, nil
}

// Check compares code with the record at instant now and returns the
// record to save. A code works once, before ExpiresAt, and only while
// fewer than MaxCodeAttempts wrong codes were entered. It returns:
//   - nil for the right code, the record now Used;
//   - a *domain.ValidationError on field "verification_code", code
//     "invalid", for a wrong code, the record's Attempts increased (after
//     the fifth, the record is void);
//   - ErrCodeUsed, ErrCodeVoid or ErrCodeExpired (all domain.ErrGone),
//     the record unchanged.
//
// The comparison takes the same time whatever the code entered.
func (c VerificationCode) Check(code string, now time.Time) (VerificationCode, error) {
	switch {
	case c.Used:
		return c, ErrCodeUsed
	case c.Attempts >= MaxCodeAttempts || c.Code == "":
		return c, ErrCodeVoid
	case !now.Before(c.ExpiresAt):
		return c, ErrCodeExpired
	}
	if subtle.ConstantTimeCompare([]byte(code), []byte(c.Code)) != 1 {
		c.Attempts++
		left := MaxCodeAttempts - c.Attempts
		return c, domain.Invalid("verification_code", "invalid", "wrong verification code (%d attempts left)", left)
	}
	c.Used = true
	return c, nil
}

// Verified proves that a verification code of a console account was
// checked: the decisions that need "a fresh verification code" take one,
// and only Account.Verify makes it.
type Verified struct {
	contractID string
	login      string
	issuedAt   time.Time
}

// IsZero reports whether v is not a proof.
func (v Verified) IsZero() bool { return v.issuedAt.IsZero() }
