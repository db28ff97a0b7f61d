package commands

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/dchest/captcha"
	"github.com/jackc/pgx/v5"

	"selfcare/domain"
)

// Captcha settings.
const (
	CaptchaDigits   = 6
	CaptchaValidity = 10 * time.Minute
	captchaWidth    = 240
	captchaHeight   = 80
)

// ErrNoCaptcha: the captcha is unknown, expired or already checked.
var ErrNoCaptcha = fmt.Errorf("%w: no such captcha (they last %s and are checked once)", domain.ErrNotFound, CaptchaValidity)

// Captchas guard the anonymous forms that send emails (SPEC §4). Answers
// live in the database, not in github.com/dchest/captcha's global
// in-memory store, so that any server process can check a captcha that
// another one drew; the library only draws the digits and the image.
type Captchas struct {
	*App
	// Disabled skips every check (SELFCARE_CAPTCHA_DISABLED, tests only).
	Disabled bool
}

// New draws a captcha and returns its id.
func (c *Captchas) New(ctx context.Context) (string, error) {
	id, err := captchaID()
	if err != nil {
		return "", err
	}
	// Expired captchas are deleted by the hourly PurgeExpired, not here:
	// they are refused whether or not their row is still there.
	_, err = c.Store.Pool().Exec(ctx, `INSERT INTO captchas (id, digits, expires_at) VALUES ($1, $2, $3)`,
		id, captcha.RandomDigits(CaptchaDigits), c.Now().Add(CaptchaValidity))
	if err != nil {
		return "", fmt.Errorf("new captcha: %w", err)
	}
	return id, nil
}

// WriteImage writes the PNG image of captcha id to w (a new rendering each
// time, of the same digits). It returns ErrNoCaptcha for an unknown,
// expired or checked one.
func (c *Captchas) WriteImage(ctx context.Context, id string, w io.Writer) error {
	digits, err := c.digits(ctx, id)
	if err != nil {
		return err
	}
	_, err = captcha.NewImage(id, digits, captchaWidth, captchaHeight).WriteTo(w)
	return err
}

// Digits returns the answer of captcha id (tests read it to answer).
func (c *Captchas) Digits(ctx context.Context, id string) (string, error) {
	d, err := c.digits(ctx, id)
	if err != nil {
		return "", err
	}
	b := make([]byte, len(d))
	for i, x := range d {
		b[i] = '0' + x
	}
	return string(b), nil
}

func (c *Captchas) digits(ctx context.Context, id string) ([]byte, error) {
	var digits []byte
	err := c.Store.Pool().QueryRow(ctx, `SELECT digits FROM captchas WHERE id = $1 AND expires_at > $2`, id, c.Now()).Scan(&digits)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNoCaptcha
	}
	if err != nil {
		return nil, fmt.Errorf("captcha: %w", err)
	}
	return digits, nil
}

// Check checks an answer and forgets the captcha, whether the answer is
// right or wrong. It returns a *domain.ValidationError on "captcha_id" or
// "captcha_answer" ("required", or "invalid" for a wrong answer or an
// unknown, expired or used captcha). When captchas are disabled it accepts
// anything.
func (c *Captchas) Check(ctx context.Context, id, answer string) error {
	if c.Disabled {
		return nil
	}
	var v domain.ValidationError
	id, answer = strings.TrimSpace(id), strings.Join(strings.Fields(answer), "")
	if id == "" {
		v.Add("captcha_id", "required", "a captcha is required: get one from POST /api/v1/captchas")
	}
	if answer == "" {
		v.Add("captcha_answer", "required", "type the digits of the captcha image")
	}
	if err := v.Err(); err != nil {
		return err
	}
	var digits []byte
	var expires time.Time
	err := c.Store.Pool().QueryRow(ctx, `DELETE FROM captchas WHERE id = $1 RETURNING digits, expires_at`, id).Scan(&digits, &expires)
	wrong := domain.Invalid("captcha_answer", "invalid", "wrong captcha answer, or the captcha expired: get a new one")
	if errors.Is(err, pgx.ErrNoRows) {
		return wrong
	}
	if err != nil {
		return fmt.Errorf("check captcha: %w", err)
	}
	given := make([]byte, len(answer))
	for i := 0; i < len(answer); i++ {
		given[i] = answer[i] - '0'
	}
	if !c.Now().Before(expires) || subtle.ConstantTimeCompare(given, digits) != 1 {
		return wrong
	}
	return nil
}

// captchaID returns 20 random letters and digits.
func captchaID() (string, error) {
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, 20)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b), nil
}
