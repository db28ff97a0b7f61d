// Package console holds the API credentials of a console account (SPEC §5):
// the API password, access keys, and the verification codes guarding them.
package console

import (
	"fmt"
	"strings"
	"time"

	"selfcare/domain"
	"selfcare/domain/identity"
)

// Errors of the console account decisions.
var (
	// ErrAccessKeyLimit: the console account already has MaxAccessKeys.
	ErrAccessKeyLimit = fmt.Errorf("%w: a console account has at most 2 access keys", domain.ErrConflict)
	// ErrAPIPasswordNotSet: access keys need an API password first.
	ErrAPIPasswordNotSet = fmt.Errorf("%w: set the API password before creating an access key", domain.ErrConflict)
	// ErrAccessKeyExists: an access key with this id exists.
	ErrAccessKeyExists = fmt.Errorf("%w: this access key already exists", domain.ErrConflict)
	// ErrAccessKeyNotFound: the console account has no such access key.
	ErrAccessKeyNotFound = fmt.Errorf("%w: no such access key", domain.ErrNotFound)
	// ErrNotVerified: the decision needs a freshly checked verification code.
	ErrNotVerified = fmt.Errorf("%w: a verification code is required", domain.ErrForbidden)
)

// MaxAccessKeys is how many access keys a console account may hold.
const MaxAccessKeys = 2

// Stream returns the name of the event stream of login's console account
// on contractID: "console-<contract id>-<lower-cased login>".
func Stream(contractID, login string) string {
	return "console-" + contractID + "-" + identity.LoginKey(login)
}

// AccessKeyInfo is what may be listed of an access key.
type AccessKeyInfo struct {
	ID        string
	CreatedAt time.Time
}

// Account is the credentials of one member's console account on one
// contract, folded from its stream. Whether the console account exists at
// all is the membership's business (membership.Membership.HasConsoleAccount):
// callers refuse these decisions (403) to members without a console role,
// and call Revoke when the account is deprovisioned.
type Account struct {
	contractID     string
	login          string
	apiPassword    bool
	apiPasswordAt  time.Time
	keys           []AccessKeyInfo
	latestCodeSent time.Time
	version        int
}

// NewAccount returns the credentials of a console account with no event
// yet. Fold its stream with Apply.
func NewAccount(contractID, login string) Account {
	return Account{contractID: contractID, login: login}
}

// Replay folds the events of the account's stream.
func Replay(contractID, login string, events []domain.Event) Account {
	a := NewAccount(contractID, login)
	for _, e := range events {
		a.Apply(e)
	}
	return a
}

// Apply folds one event of the account's stream.
func (a *Account) Apply(e domain.Event) {
	a.version++
	switch e := e.(type) {
	case ApiPasswordSet:
		a.apiPassword, a.apiPasswordAt = true, e.At
	case ApiPasswordRemoved:
		a.apiPassword, a.apiPasswordAt = false, time.Time{}
	case AccessKeyCreated:
		a.keys = append(a.keys, AccessKeyInfo{ID: e.AccessKeyID, CreatedAt: e.At})
	case AccessKeyDeleted:
		for i, k := range a.keys {
			if k.ID == e.AccessKeyID {
				a.keys = append(a.keys[:i:i], a.keys[i+1:]...)
				break
			}
		}
	case VerificationCodeSent:
		a.latestCodeSent = e.IssuedAt
	}
}

// HasAPIPassword reports whether an API password is set.
func (a Account) HasAPIPassword() bool { return a.apiPassword }

// AccessKeys lists the account's access keys, oldest first.
func (a Account) AccessKeys() []AccessKeyInfo { return append([]AccessKeyInfo(nil), a.keys...) }

// Version returns the number of events folded: the expected version for
// the next append to the stream.
func (a Account) Version() int { return a.version }

// SendVerificationCode records that code was emailed to the member. The
// new code voids every earlier one (Verify refuses them). The caller keeps
// code in its code store and sends it; the event holds no code.
func (a Account) SendVerificationCode(code VerificationCode) ([]domain.Event, error) {
	if code.IssuedAt.IsZero() || code.Code == "" {
		return nil, domain.Invalid("verification_code", "required", "no code to send")
	}
	return []domain.Event{VerificationCodeSent{
		ContractID: a.contractID, Login: a.login, IssuedAt: code.IssuedAt, ExpiresAt: code.ExpiresAt,
	}}, nil
}

// Verify checks the code the member entered against code, the record the
// store holds for this account. It returns the record to save and, on
// success, the proof that SetAPIPassword and CreateAccessKey need. Errors
// are those of VerificationCode.Check, plus ErrCodeVoid for a code that a
// later one replaced.
func (a Account) Verify(code VerificationCode, entered string, now time.Time) (VerificationCode, Verified, error) {
	if a.latestCodeSent.IsZero() || !code.IssuedAt.Equal(a.latestCodeSent) {
		return code, Verified{}, ErrCodeVoid
	}
	checked, err := code.Check(entered, now)
	if err != nil {
		return checked, Verified{}, err
	}
	return checked, Verified{contractID: a.contractID, login: a.login, issuedAt: code.IssuedAt}, nil
}

func (a Account) proven(v Verified) bool {
	return !v.IsZero() && v.contractID == a.contractID && strings.EqualFold(v.login, a.login)
}

// APIPasswordInput is the API password form: step 1 confirms the company
// account (contract id) and email, step 2 gives the new password twice.
type APIPasswordInput struct {
	ContractID      string `json:"-"` // the company account, as typed (or from the URL)
	Email           string `json:"email"`
	NewPassword     string `json:"new_password"`
	ConfirmPassword string `json:"confirm_password"`
}

// CheckAPIPassword validates the API password form of the member whose
// login and email are given, on contractID. It returns the strength, or one
// *domain.ValidationError with every problem:
//   - "contract_id" and "email", code "mismatch", when step 1 does not name
//     this console account (email ignoring case);
//   - "new_password" with the codes of identity.CheckPassword (the same
//     policy as the customer-area password, including same_as_login), plus
//     "same_as_contract_id" and "same_as_email": the API password may not
//     be any of the identifiers printed in the console access email;
//   - "confirm_password", "mismatch".
//
// Whether it differs from the customer-area password is not checked: only
// its hash is known, and the console (not selfcare) uses the API password.
func CheckAPIPassword(in APIPasswordInput, contractID, login, email string) (identity.Strength, error) {
	var v domain.ValidationError
	if strings.TrimSpace(in.ContractID) != contractID {
		v.Add("contract_id", "mismatch", "this is not the company account of this console account")
	}
	if !strings.EqualFold(strings.TrimSpace(in.Email), email) {
		v.Add("email", "mismatch", "this is not the email of this console account")
	}
	strength, err := identity.CheckPassword("new_password", in.NewPassword, login)
	v.Merge("", err)
	if in.NewPassword != "" && strings.EqualFold(in.NewPassword, contractID) {
		v.Add("new_password", "same_as_contract_id", "the API password differs from the company account")
	}
	if in.NewPassword != "" && strings.EqualFold(in.NewPassword, email) {
		v.Add("new_password", "same_as_email", "the API password differs from the email address")
	}
	v.Merge("", identity.CheckPasswordConfirmation(in.NewPassword, in.ConfirmPassword))
	if err := v.Err(); err != nil {
		return "", err
	}
	return strength, nil
}

// SetAPIPassword records a new API password: the caller has checked it
// with CheckAPIPassword and stored its hash, and verified a code (v). It
// returns ErrNotVerified without a proof for this account.
func (a Account) SetAPIPassword(v Verified, now time.Time) ([]domain.Event, error) {
	if !a.proven(v) {
		return nil, ErrNotVerified
	}
	return []domain.Event{ApiPasswordSet{ContractID: a.contractID, Login: a.login, At: now.UTC()}}, nil
}

// CreateAccessKey records a new access key with id keyID (from
// NewAccessKey); the caller has checked the API password entered against
// its hash and verified a code (v). It returns ErrNotVerified,
// ErrAPIPasswordNotSet, ErrAccessKeyLimit when MaxAccessKeys exist,
// ErrAccessKeyExists, or a *domain.ValidationError ("access_key_id",
// "invalid") for a malformed id.
func (a Account) CreateAccessKey(v Verified, keyID string, now time.Time) ([]domain.Event, error) {
	switch {
	case !a.proven(v):
		return nil, ErrNotVerified
	case !a.apiPassword:
		return nil, ErrAPIPasswordNotSet
	case !ValidAccessKeyID(keyID):
		return nil, domain.Invalid("access_key_id", "invalid", "an access key id is 20 uppercase letters and digits")
	case len(a.keys) >= MaxAccessKeys:
		return nil, ErrAccessKeyLimit
	}
	for _, k := range a.keys {
		if k.ID == keyID {
			return nil, ErrAccessKeyExists
		}
	}
	return []domain.Event{AccessKeyCreated{
		ContractID: a.contractID, Login: a.login, AccessKeyID: keyID, At: now.UTC(),
	}}, nil
}

// DeleteAccessKey deletes one of the account's access keys. It returns
// ErrAccessKeyNotFound (a domain.ErrNotFound) for a key it does not have.
func (a Account) DeleteAccessKey(keyID string, now time.Time) ([]domain.Event, error) {
	for _, k := range a.keys {
		if k.ID == keyID {
			return []domain.Event{AccessKeyDeleted{
				ContractID: a.contractID, Login: a.login, AccessKeyID: keyID, Reason: DeletedByUser, At: now.UTC(),
			}}, nil
		}
	}
	return nil, ErrAccessKeyNotFound
}

// Revoke drops every credential of the account, when the console account
// is deprovisioned (membership.ConsoleAccountDeprovisioned): each access key
// is deleted and the API password removed. It emits nothing for an account
// without credentials.
func (a Account) Revoke(now time.Time) ([]domain.Event, error) {
	now = now.UTC()
	var events []domain.Event
	for _, k := range a.keys {
		events = append(events, AccessKeyDeleted{
			ContractID: a.contractID, Login: a.login, AccessKeyID: k.ID, Reason: DeletedDeprovisioned, At: now,
		})
	}
	if a.apiPassword {
		events = append(events, ApiPasswordRemoved{ContractID: a.contractID, Login: a.login, At: now})
	}
	return events, nil
}
