// Package identity holds the identity of a person ("Orange account"), one
// across all contracts: login, email, personal data, password policy.
package identity

import (
	"fmt"
	"strings"
	"time"

	"selfcare/domain"
)

// Errors of the identity decisions.
var (
	// ErrLoginTaken: an identity with this login (ignoring case) exists.
	ErrLoginTaken = fmt.Errorf("%w: this login is already taken", domain.ErrConflict)
	// ErrNoPassword: a password change needs a current password.
	ErrNoPassword = fmt.Errorf("%w: the identity has no password yet", domain.ErrConflict)
	// ErrResetLinkInvalid: the set-password link expired, was used, or was
	// voided by a later password change.
	ErrResetLinkInvalid = fmt.Errorf("%w: this link has expired or was already used", domain.ErrGone)
)

// ResetLinkValidity is how long a set-password link stays valid (SPEC §4).
const ResetLinkValidity = 24 * time.Hour

// Stream returns the name of the event stream of the identity whose login
// is login: "identity-" and the lower-cased login, so that logins differing
// only by case are one identity.
func Stream(login string) string { return "identity-" + LoginKey(login) }

// LoginKey is how a login is compared and stored as a key: trimmed and
// lower-cased, so that logins differing only by case are one identity.
func LoginKey(login string) string { return strings.ToLower(strings.TrimSpace(login)) }

// Identity is the state of one identity, folded from its stream. The zero
// value is an identity not registered yet.
type Identity struct {
	registered   bool
	login        Login
	email        Email
	person       Person
	registeredAt time.Time

	hasPassword   bool
	passwordSetAt time.Time
	// resets are the set-password links sent since the last password was
	// set; any earlier link is void.
	resets []PasswordResetRequested
	// emailChange is the pending change of email, if any: only the latest
	// request's link is valid.
	emailChange *EmailChangeRequested

	version int
}

// Replay folds events into a new Identity.
func Replay(events []domain.Event) Identity {
	var id Identity
	for _, e := range events {
		id.Apply(e)
	}
	return id
}

// Apply folds one event of the identity's stream into its state. Events of
// other types are counted but otherwise ignored.
func (id *Identity) Apply(e domain.Event) {
	id.version++
	switch e := e.(type) {
	case IdentityRegistered:
		id.registered = true
		id.login = Login{s: e.Login}
		id.registeredAt = e.RegisteredAt
		id.setProfile(e.ProfileData)
	case ProfileUpdated:
		if !strings.EqualFold(e.Before.Email, e.After.Email) {
			id.emailChange = nil
		}
		id.setProfile(e.After)
	case EmailChangeRequested:
		id.emailChange = &e
	case PasswordSet:
		id.hasPassword = true
		id.passwordSetAt = e.At
		id.resets = nil
	case PasswordResetRequested:
		// Links already expired when this one is sent can never be used
		// again (time runs forward): dropping them keeps the state, and
		// its snapshot, bounded however many links anyone requests.
		kept := id.resets[:0:0]
		for _, r := range id.resets {
			if r.ExpiresAt.After(e.RequestedAt) {
				kept = append(kept, r)
			}
		}
		id.resets = append(kept, e)
	}
}

func (id *Identity) setProfile(d ProfileData) {
	id.email = Email{s: d.Email}
	id.person = Person{
		civility: Civility(d.Civility), lastName: d.LastName, firstName: d.FirstName,
		phone: Phone{s: d.Phone}, mobile: Phone{s: d.Mobile}, language: Language(d.Language),
	}
}

// Registered reports whether the identity exists.
func (id Identity) Registered() bool { return id.registered }

// Login returns the login, as first typed.
func (id Identity) Login() Login { return id.login }

// Email returns the current email address.
func (id Identity) Email() Email { return id.email }

// Person returns the current personal data.
func (id Identity) Person() Person { return id.person }

// RegisteredAt returns when the identity was registered.
func (id Identity) RegisteredAt() time.Time { return id.registeredAt }

// PendingEmail returns the address a change of email waits to be
// confirmed at, and when its link expires; ok is false when none is.
func (id Identity) PendingEmail() (email string, expiresAt time.Time, ok bool) {
	if id.emailChange == nil {
		return "", time.Time{}, false
	}
	return id.emailChange.Email, id.emailChange.ExpiresAt, true
}

// HasPassword reports whether a password was ever set.
func (id Identity) HasPassword() bool { return id.hasPassword }

// Version returns the number of events folded: the expected version for
// the next append to the stream.
func (id Identity) Version() int { return id.version }

// Profile returns the current personal data as a snapshot.
func (id Identity) Profile() ProfileData { return profileData(id.email, id.person) }

func profileData(e Email, p Person) ProfileData {
	return ProfileData{
		Email: e.s, Civility: string(p.civility), LastName: p.lastName, FirstName: p.firstName,
		Phone: p.phone.s, Mobile: p.mobile.s, Language: string(p.language),
	}
}

// Registration is a validated request to create an identity.
type Registration struct {
	Login  Login
	Email  Email
	Person Person
}

// RegistrationInput is a registration as typed.
type RegistrationInput struct {
	Login string `json:"login"`
	Email string `json:"email"`
	PersonInput
}

// NewRegistration validates a registration. It returns one
// *domain.ValidationError listing every problem (fields "login", "email",
// and those of NewPerson).
func NewRegistration(in RegistrationInput) (Registration, error) {
	var v domain.ValidationError
	var r Registration
	var err error
	if r.Login, err = NewLogin(in.Login); err != nil {
		v.Merge("", err)
	}
	if r.Email, err = NewEmail(in.Email); err != nil {
		v.Merge("", err)
	}
	if r.Person, err = NewPerson(in.PersonInput); err != nil {
		v.Merge("", err)
	}
	if err := v.Err(); err != nil {
		return Registration{}, err
	}
	return r, nil
}

// Register creates the identity. The caller first claims the email (see
// EmailClaim) and appends to Stream(login) expecting a new stream. It
// returns ErrLoginTaken if the identity already exists.
func (id Identity) Register(r Registration, now time.Time) ([]domain.Event, error) {
	if id.registered {
		return nil, ErrLoginTaken
	}
	if r.Login.IsZero() || r.Email.IsZero() || r.Person.IsZero() {
		return nil, domain.Invalid("login", "required", "an incomplete registration")
	}
	return []domain.Event{IdentityRegistered{
		Login:        r.Login.String(),
		ProfileData:  profileData(r.Email, r.Person),
		RegisteredAt: now.UTC(),
	}}, nil
}

// ProfilePatch lists the personal data to change; a nil field is left as
// it is. An empty Phone or Mobile clears that number.
type ProfilePatch struct {
	Email     *string `json:"email"`
	Civility  *string `json:"civility"`
	LastName  *string `json:"last_name"`
	FirstName *string `json:"first_name"`
	Phone     *string `json:"phone"`
	Mobile    *string `json:"mobile"`
	Language  *string `json:"language"`
}

// UpdateProfile changes personal data (not the login). It returns
// domain.ErrNotFound for an unregistered identity, a
// *domain.ValidationError listing every bad field (and "phone",
// "phone_or_mobile_required" if no number would remain), or no event when
// nothing actually changes.
//
// The email changes only through RequestEmailChange and its link (SPEC
// §10): a patch whose email has another Key than the current one is
// refused ("email", "verification_required"); one that only changes its
// case is applied.
func (id Identity) UpdateProfile(p ProfilePatch, now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	in := id.person.Input()
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = *src
		}
	}
	set(&in.Civility, p.Civility)
	set(&in.LastName, p.LastName)
	set(&in.FirstName, p.FirstName)
	set(&in.Phone, p.Phone)
	set(&in.Mobile, p.Mobile)
	set(&in.Language, p.Language)

	var v domain.ValidationError
	email := id.email
	if p.Email != nil {
		e, err := NewEmail(*p.Email)
		switch {
		case err != nil:
			v.Merge("", err)
		case e.Key() != id.email.Key():
			v.Add("email", "verification_required", "a new email address takes effect once confirmed through the link sent to it")
		default:
			email = e
		}
	}
	person, err := NewPerson(in)
	if err != nil {
		v.Merge("", err)
	}
	if err := v.Err(); err != nil {
		return nil, err
	}

	before, after := id.Profile(), profileData(email, person)
	changed := changedFields(before, after)
	if len(changed) == 0 {
		return nil, nil
	}
	return []domain.Event{ProfileUpdated{
		Login: id.login.String(), Changed: changed, Before: before, After: after, UpdatedAt: now.UTC(),
	}}, nil
}

func changedFields(a, b ProfileData) []string {
	var out []string
	add := func(name, x, y string) {
		if x != y {
			out = append(out, name)
		}
	}
	add("email", a.Email, b.Email)
	add("civility", a.Civility, b.Civility)
	add("last_name", a.LastName, b.LastName)
	add("first_name", a.FirstName, b.FirstName)
	add("phone", a.Phone, b.Phone)
	add("mobile", a.Mobile, b.Mobile)
	add("language", a.Language, b.Language)
	return out
}

// SetPassword records that a new password was set; the caller has checked
// it with CheckPassword and stored its hash. The recorded reason is
// ReasonFirst whenever the identity had no password, whatever the flow;
// otherwise reason, with ReasonFirst read as ReasonReset. It returns
// domain.ErrNotFound for an unregistered identity and ErrNoPassword for a
// ReasonChange without a current password.
func (id Identity) SetPassword(reason PasswordReason, now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	switch {
	case reason == ReasonChange && !id.hasPassword:
		return nil, ErrNoPassword
	case !id.hasPassword:
		reason = ReasonFirst
	case reason == ReasonFirst:
		reason = ReasonReset
	case reason != ReasonReset && reason != ReasonChange:
		return nil, domain.Invalid("reason", "invalid", "unknown reason %q", reason)
	}
	return []domain.Event{PasswordSet{Login: id.login.String(), At: now.UTC(), Reason: reason}}, nil
}

// RequestPasswordReset records that a set-password link, valid
// ResetLinkValidity, is being sent (the caller keeps the token's hash with
// the request time). It returns domain.ErrNotFound for an unregistered
// identity: the caller still answers 202 to the requester.
func (id Identity) RequestPasswordReset(now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	now = now.UTC()
	return []domain.Event{PasswordResetRequested{
		Login: id.login.String(), RequestedAt: now, ExpiresAt: now.Add(ResetLinkValidity),
	}}, nil
}

// ResetPassword sets a password through the link sent at requestedAt. Links
// are single use: it returns ErrResetLinkInvalid (an ErrGone) if no link was
// sent at that instant, if the link has expired, or if a password was set
// since it was sent; domain.ErrNotFound for an unregistered identity.
func (id Identity) ResetPassword(requestedAt, now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	if err := id.checkResetLink(requestedAt, now); err != nil {
		return nil, err
	}
	return id.SetPassword(ReasonReset, now)
}

// checkResetLink implements ResetPassword's validity rule. A password set
// after the request empties id.resets, so a used link is never found.
func (id Identity) checkResetLink(requestedAt, now time.Time) error {
	for _, r := range id.resets {
		if r.RequestedAt.Equal(requestedAt) {
			if !now.Before(r.ExpiresAt) {
				return ErrResetLinkInvalid
			}
			return nil
		}
	}
	return ErrResetLinkInvalid
}

// EmailLinkValidity is how long the link confirming a new email is valid.
const EmailLinkValidity = 24 * time.Hour

// ErrEmailLinkInvalid: the email confirmation link is unknown, expired,
// used or voided by a later request.
var ErrEmailLinkInvalid = fmt.Errorf("%w: this link has expired or was already used", domain.ErrGone)

// RequestEmailChange records that the identity asks to use email from now
// on (SPEC §10). The caller has checked the current password, keeps the
// link token's hash with the request time, and mails the link to email and
// a notice to the current address. It returns no event when email is the
// current address, and domain.ErrNotFound for an unregistered identity.
// Whether another identity owns email is decided when the link is used,
// so that the answer does not tell who has an account.
func (id Identity) RequestEmailChange(email Email, now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	if email.Key() == id.email.Key() {
		return nil, nil
	}
	now = now.UTC()
	return []domain.Event{EmailChangeRequested{
		Login: id.login.String(), Email: email.String(), OldEmail: id.email.String(),
		RequestedAt: now, ExpiresAt: now.Add(EmailLinkValidity),
	}}, nil
}

// ConfirmEmailChange applies the change of email requested at requestedAt,
// through its link: a ProfileUpdated marked EmailVerified. It returns
// ErrEmailLinkInvalid if that request is not the pending one (used,
// voided by a later request) or has expired. The caller claims the new
// address and releases the old one in the same transaction.
func (id Identity) ConfirmEmailChange(requestedAt, now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	c := id.emailChange
	if c == nil || !c.RequestedAt.Equal(requestedAt) || !now.Before(c.ExpiresAt) {
		return nil, ErrEmailLinkInvalid
	}
	before := id.Profile()
	after := before
	after.Email = c.Email
	return []domain.Event{ProfileUpdated{
		Login: id.login.String(), Changed: []string{"email"}, Before: before, After: after,
		UpdatedAt: now.UTC(), EmailVerified: true,
	}}, nil
}

// RequestLoginReminder records that an email telling the login is to be
// sent to the identity's address. It returns domain.ErrNotFound for an
// unregistered identity: the caller still answers 202 to the requester.
func (id Identity) RequestLoginReminder(now time.Time) ([]domain.Event, error) {
	if !id.registered {
		return nil, domain.ErrNotFound
	}
	return []domain.Event{LoginReminderRequested{
		Login: id.login.String(), Email: id.email.String(), At: now.UTC(),
	}}, nil
}
