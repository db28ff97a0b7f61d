package commands

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/console"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/eventstore"
	"selfcare/internal/auth"
	"selfcare/internal/secrets"
)

// Secret purposes of console credentials.
const (
	purposeCodeMAC         = "console-verification-code-store"
	purposeAccessKeySecret = "console-access-key-secret"
)

// Errors of the console credential commands.
var (
	ErrNoConsoleAccount = fmt.Errorf("%w: you have no console account on this contract (no console role)", domain.ErrForbidden)
	ErrWrongAPIPassword = fmt.Errorf("%w: the API password is wrong", domain.ErrForbidden)
)

// ConsoleCredentials are the API credentials of a member's console account
// (SPEC §5): emailed verification codes, the API password and access keys.
// Codes are kept as an HMAC with their attempts, the API password as an
// argon2id hash, secret access keys sealed (AES-256-GCM) under a key of
// their own and bound to their key id.
type ConsoleCredentials struct {
	*App
	Keys *secrets.Keys
}

// account loads the console account of login on cid, refusing a member
// without a console account.
func (c *ConsoleCredentials) account(ctx context.Context, tx *eventstore.Tx, cid, login string) (console.Account, int64, error) {
	var m membership.Membership
	if _, err := c.Load(ctx, tx, membership.Stream(cid, login), &m); err != nil {
		return console.Account{}, 0, err
	}
	if !m.HasConsoleAccount() {
		return console.Account{}, 0, ErrNoConsoleAccount
	}
	acct := console.NewAccount(cid, m.Login())
	version, err := c.Load(ctx, tx, console.Stream(cid, login), &acct)
	return acct, version, err
}

// Verification codes a console account may be sent in CodeWindow.
const (
	CodesPerWindow = 10
	CodeWindow     = 15 * time.Minute
)

// SendCode emails login a new verification code for their console account
// on cid, valid 60 s; it voids the previous one. The code is drawn from the
// id of the VerificationCodeSent event (auth.CodeSource), so the mailer can
// draw it again; only its HMAC is stored. More than CodesPerWindow codes in
// CodeWindow get a *ThrottledError: each code is an email, and each one
// brings five more guesses.
func (c *ConsoleCredentials) SendCode(ctx context.Context, cid, login string) error {
	retry, err := c.count(ctx, "code", cid+"/"+identity.LoginKey(login), CodesPerWindow, CodeWindow)
	if err != nil {
		return err
	}
	if retry > 0 {
		return &ThrottledError{RetryAfter: retry}
	}
	_, err = c.Execute(ctx, RetryOnConflict, func(tx *eventstore.Tx) error {
		acct, version, err := c.account(ctx, tx, cid, login)
		if err != nil {
			return err
		}
		eventID, err := uuid.NewV7()
		if err != nil {
			return err
		}
		code, err := console.NewVerificationCode(auth.CodeSource(c.Keys, eventID), c.Now().Truncate(time.Microsecond))
		if err != nil {
			return err
		}
		events, err := acct.SendVerificationCode(code)
		if err != nil {
			return err
		}
		envs, err := c.Envelopes(ctx, cid, events...)
		if err != nil {
			return err
		}
		envs[0].ID = eventID
		if _, err := tx.Pgx().Exec(ctx, `
INSERT INTO verification_codes (contract_id, login_key, code_mac, issued_at, expires_at) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (contract_id, login_key) DO UPDATE SET code_mac = excluded.code_mac, issued_at = excluded.issued_at,
    expires_at = excluded.expires_at, attempts = 0, used = false`,
			cid, identity.LoginKey(login), c.codeMAC(cid, login, code.Code), code.IssuedAt, code.ExpiresAt); err != nil {
			return fmt.Errorf("store verification code: %w", err)
		}
		_, err = tx.Append(ctx, console.Stream(cid, login), eventstore.Exactly(version), envs...)
		return err
	})
	return err
}

func (c *ConsoleCredentials) codeMAC(cid, login, code string) []byte {
	return c.Keys.MAC(purposeCodeMAC, []byte(cid+"\x00"+identity.LoginKey(login)+"\x00"+code))
}

// verify checks the code entered against the stored one and saves the
// attempt (or the use) in tx. A refused code comes back as rejected, with
// tx still good to commit the attempt: the caller commits and then returns
// rejected.
func (c *ConsoleCredentials) verify(ctx context.Context, tx *eventstore.Tx, acct console.Account, cid, login, entered string) (proof console.Verified, rejected error, err error) {
	var rec console.VerificationCode
	var mac []byte
	err = tx.Pgx().QueryRow(ctx, `
SELECT code_mac, issued_at, expires_at, attempts, used FROM verification_codes WHERE contract_id = $1 AND login_key = $2 FOR UPDATE`,
		cid, identity.LoginKey(login)).Scan(&mac, &rec.IssuedAt, &rec.ExpiresAt, &rec.Attempts, &rec.Used)
	if errors.Is(err, pgx.ErrNoRows) {
		return console.Verified{}, console.ErrCodeVoid, nil
	}
	if err != nil {
		return console.Verified{}, nil, fmt.Errorf("verification code: %w", err)
	}
	// The domain compares the stored MAC with the MAC of what was entered.
	rec.Code = hex.EncodeToString(mac)
	checked, proof, rejected := acct.Verify(rec, hex.EncodeToString(c.codeMAC(cid, login, strings.TrimSpace(entered))), c.Now())
	if _, err := tx.Pgx().Exec(ctx, `UPDATE verification_codes SET attempts = $3, used = $4 WHERE contract_id = $1 AND login_key = $2`,
		cid, identity.LoginKey(login), checked.Attempts, checked.Used); err != nil {
		return console.Verified{}, nil, fmt.Errorf("verification code: %w", err)
	}
	return proof, rejected, nil
}

// APIPasswordForm is the API password form (SPEC §5, two steps in one),
// as typed in the web UI or an API body.
type APIPasswordForm struct {
	// CompanyAccount is the contract id typed in step 1; empty means the
	// contract of the URL.
	CompanyAccount   string `json:"company_account"`
	Email            string `json:"email"`
	NewPassword      string `json:"new_password"`
	ConfirmPassword  string `json:"confirm_password"`
	VerificationCode string `json:"verification_code"`
}

// SetAPIPassword sets login's API password on cid. It returns a
// *domain.ValidationError for the form (console.CheckAPIPassword's fields,
// with "contract_id" reported as "company_account", and
// "verification_code" required or invalid), console.ErrCodeExpired, ErrCodeUsed
// or ErrCodeVoid (410), and ErrNoConsoleAccount (403). The form is checked
// before the code, so a mistyped form does not spend the code.
func (c *ConsoleCredentials) SetAPIPassword(ctx context.Context, cid, login string, f APIPasswordForm) error {
	var id identity.Identity
	err := c.Store.Transact(ctx, func(tx *eventstore.Tx) error {
		_, err := c.Load(ctx, tx, identity.Stream(login), &id)
		return err
	})
	if err != nil {
		return err
	}
	if !id.Registered() {
		return fmt.Errorf("load %q: %w", identity.Stream(login), eventstore.ErrStreamNotFound)
	}
	company := f.CompanyAccount
	if strings.TrimSpace(company) == "" {
		company = cid
	}
	var v domain.ValidationError
	_, err = console.CheckAPIPassword(console.APIPasswordInput{
		ContractID: company, Email: f.Email, NewPassword: f.NewPassword, ConfirmPassword: f.ConfirmPassword,
	}, cid, id.Login().String(), id.Email().String())
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		for _, fe := range ve.Errors {
			if fe.Field == "contract_id" {
				fe.Field = "company_account"
			}
			v.Errors = append(v.Errors, fe)
		}
	} else if err != nil {
		return err
	}
	if strings.TrimSpace(f.VerificationCode) == "" {
		v.Add("verification_code", "required", "type the code emailed to you (POST .../console/verification-codes)")
	}
	if err := v.Err(); err != nil {
		return err
	}
	var rejected error
	_, err = c.Execute(ctx, FailOnConflict, func(tx *eventstore.Tx) error {
		acct, version, err := c.account(ctx, tx, cid, login)
		if err != nil {
			return err
		}
		proof, rej, err := c.verify(ctx, tx, acct, cid, login, f.VerificationCode)
		if err != nil {
			return err
		}
		if rej != nil {
			rejected = rej
			return nil // commit the attempt
		}
		// Hashed only once the code is right: a hash costs 19 MiB and
		// 150 ms, a wrong code costs nothing (issue 10, finding 3). A busy
		// refusal rolls back, leaving the code unspent.
		hash, err := auth.HashPassword(f.NewPassword)
		if err != nil {
			return err
		}
		now := c.Now()
		events, err := acct.SetAPIPassword(proof, now)
		if err != nil {
			return err
		}
		if _, err := tx.Pgx().Exec(ctx, `
INSERT INTO api_passwords (contract_id, login_key, password_hash, set_at) VALUES ($1, $2, $3, $4)
ON CONFLICT (contract_id, login_key) DO UPDATE SET password_hash = excluded.password_hash, set_at = excluded.set_at`,
			cid, identity.LoginKey(login), hash, now); err != nil {
			return fmt.Errorf("store API password: %w", err)
		}
		_, err = c.Append(ctx, tx, console.Stream(cid, login), eventstore.Exactly(version), cid, events...)
		return err
	})
	if err != nil {
		return err
	}
	return rejected
}

// NewAccessKey is a created access key; Secret is shown once.
type NewAccessKey struct {
	ID        string
	Secret    string
	CreatedAt time.Time
}

// CreateAccessKey creates an access key for login's console account on
// cid, given the API password and a fresh verification code. It returns
// console.ErrAPIPasswordNotSet or ErrAccessKeyLimit (409, checked before
// the code is spent), the code's errors (400 invalid, 410), and
// ErrWrongAPIPassword (403: the code is spent then, so that each guess of
// the API password costs an emailed code).
func (c *ConsoleCredentials) CreateAccessKey(ctx context.Context, cid, login, apiPassword, code string) (NewAccessKey, error) {
	var v domain.ValidationError
	if apiPassword == "" {
		v.Add("api_password", "required", "type your API password")
	}
	if strings.TrimSpace(code) == "" {
		v.Add("verification_code", "required", "type the code emailed to you (POST .../console/verification-codes)")
	}
	if err := v.Err(); err != nil {
		return NewAccessKey{}, err
	}
	var out NewAccessKey
	var rejected error
	_, err := c.Execute(ctx, FailOnConflict, func(tx *eventstore.Tx) error {
		acct, version, err := c.account(ctx, tx, cid, login)
		if err != nil {
			return err
		}
		switch {
		case !acct.HasAPIPassword():
			return console.ErrAPIPasswordNotSet
		case len(acct.AccessKeys()) >= console.MaxAccessKeys:
			return console.ErrAccessKeyLimit
		}
		proof, rej, err := c.verify(ctx, tx, acct, cid, login, code)
		if err != nil {
			return err
		}
		if rej != nil {
			rejected = rej
			return nil
		}
		var stored string
		if err := tx.Pgx().QueryRow(ctx, `SELECT password_hash FROM api_passwords WHERE contract_id = $1 AND login_key = $2`,
			cid, identity.LoginKey(login)).Scan(&stored); err != nil {
			return fmt.Errorf("API password: %w", err)
		}
		ok, err := auth.CheckPassword(stored, apiPassword)
		if err != nil {
			return err
		}
		if !ok {
			rejected = ErrWrongAPIPassword
			return nil
		}
		key, err := console.NewAccessKey(rand.Reader)
		if err != nil {
			return err
		}
		now := c.Now()
		events, err := acct.CreateAccessKey(proof, key.ID, now)
		if err != nil {
			return err
		}
		sealed, err := c.Keys.Seal(purposeAccessKeySecret, []byte(key.Secret), []byte(key.ID))
		if err != nil {
			return err
		}
		if _, err := tx.Pgx().Exec(ctx, `
INSERT INTO access_key_secrets (access_key_id, contract_id, login_key, secret_sealed, created_at) VALUES ($1, $2, $3, $4, $5)`,
			key.ID, cid, identity.LoginKey(login), sealed, now); err != nil {
			return fmt.Errorf("store access key: %w", err)
		}
		if _, err := c.Append(ctx, tx, console.Stream(cid, login), eventstore.Exactly(version), cid, events...); err != nil {
			return err
		}
		out = NewAccessKey{ID: key.ID, Secret: key.Secret, CreatedAt: now}
		return nil
	})
	if err != nil {
		return NewAccessKey{}, err
	}
	if rejected != nil {
		return NewAccessKey{}, rejected
	}
	return out, nil
}

// DeleteAccessKey deletes one of login's access keys on cid; it returns
// console.ErrAccessKeyNotFound (404) for a key the account does not have.
func (c *ConsoleCredentials) DeleteAccessKey(ctx context.Context, cid, login, keyID string) error {
	_, err := c.Execute(ctx, FailOnConflict, func(tx *eventstore.Tx) error {
		acct, version, err := c.account(ctx, tx, cid, login)
		if err != nil {
			return err
		}
		events, err := acct.DeleteAccessKey(keyID, c.Now())
		if err != nil {
			return err
		}
		if _, err := tx.Pgx().Exec(ctx, `DELETE FROM access_key_secrets WHERE access_key_id = $1`, keyID); err != nil {
			return err
		}
		_, err = c.Append(ctx, tx, console.Stream(cid, login), eventstore.Exactly(version), cid, events...)
		return err
	})
	return err
}

// SecretOf opens the sealed secret of an access key (for the console's
// request signing, and tests).
func (c *ConsoleCredentials) SecretOf(ctx context.Context, keyID string) (string, error) {
	var sealed []byte
	err := c.Store.Pool().QueryRow(ctx, `SELECT secret_sealed FROM access_key_secrets WHERE access_key_id = $1`, keyID).Scan(&sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", console.ErrAccessKeyNotFound
	}
	if err != nil {
		return "", err
	}
	plain, err := c.Keys.Open(purposeAccessKeySecret, sealed, []byte(keyID))
	return string(plain), err
}

// Revoke drops every credential of login's console account on cid when
// it is deprovisioned (the reaction to membership.ConsoleAccountDeprovisioned,
// caused by the event cause): access keys deleted, API password removed,
// pending code forgotten. Event ids derive from cause, so a redelivery
// appends nothing more.
func (c *ConsoleCredentials) Revoke(ctx context.Context, cause uuid.UUID, cid, login string) error {
	return c.Store.Transact(ctx, func(tx *eventstore.Tx) error {
		acct := console.NewAccount(cid, login)
		stream := console.Stream(cid, login)
		version, err := c.Load(ctx, tx, stream, &acct)
		if err != nil {
			return err
		}
		events, err := acct.Revoke(c.Now())
		if err != nil {
			return err
		}
		for _, q := range []string{
			`DELETE FROM access_key_secrets WHERE contract_id = $1 AND login_key = $2`,
			`DELETE FROM api_passwords WHERE contract_id = $1 AND login_key = $2`,
			`DELETE FROM verification_codes WHERE contract_id = $1 AND login_key = $2`,
		} {
			if _, err := tx.Pgx().Exec(ctx, q, cid, identity.LoginKey(login)); err != nil {
				return fmt.Errorf("revoke console credentials: %w", err)
			}
		}
		if len(events) == 0 {
			return nil
		}
		envs, err := c.Envelopes(ctx, cid, events...)
		if err != nil {
			return err
		}
		for i := range envs {
			envs[i].ID = reactionID(cause, i)
		}
		_, err = tx.Append(ctx, stream, eventstore.Exactly(version), envs...)
		return err
	})
}
