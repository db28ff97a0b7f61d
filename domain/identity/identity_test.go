package identity

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/domaintest"
)

var (
	t0             = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	paulRegistered = IdentityRegistered{
		Login: "paul.dupont",
		ProfileData: ProfileData{
			Email: "paul.dupont@orangecloud.com", Civility: "mr", LastName: "Dupont", FirstName: "Paul",
			Phone: "0101010101", Language: "fr",
		},
		RegisteredAt: t0,
	}
)

func ptr(s string) *string { return &s }

func mustRegistration(t *testing.T) Registration {
	t.Helper()
	r, err := NewRegistration(RegistrationInput{
		Login: "paul.dupont", Email: "paul.dupont@orangecloud.com",
		PersonInput: PersonInput{Civility: "mr", LastName: "Dupont", FirstName: "Paul", Phone: "0101010101", Language: "fr"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRegister(t *testing.T) {
	tests := []struct {
		name    string
		given   []domain.Event
		want    []domain.Event
		wantErr error
	}{
		{"a new login registers", nil, []domain.Event{paulRegistered}, nil},
		{"a login is registered once", []domain.Event{paulRegistered}, nil, ErrLoginTaken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Replay(tt.given).Register(mustRegistration(t), t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %#v, want %#v", got, tt.want)
			}
		})
	}
	if !errors.Is(ErrLoginTaken, domain.ErrConflict) {
		t.Error("ErrLoginTaken must be a conflict")
	}
}

func TestReplayRebuildsTheIdentity(t *testing.T) {
	id := Replay([]domain.Event{paulRegistered})
	if !id.Registered() || id.Login().String() != "paul.dupont" || id.Email().String() != "paul.dupont@orangecloud.com" ||
		id.Person().LastName() != "Dupont" || id.HasPassword() || id.Version() != 1 {
		t.Errorf("state = %+v", id)
	}
}

func TestUpdateProfile(t *testing.T) {
	tests := []struct {
		name    string
		patch   ProfilePatch
		changed []string
		after   func(*ProfileData)
		codes   map[string][]string
	}{
		{
			name:    "change names and add a mobile",
			patch:   ProfilePatch{FirstName: ptr("Paulo"), Mobile: ptr("06 12 34 56 78")},
			changed: []string{"first_name", "mobile"},
			after:   func(d *ProfileData) { d.FirstName, d.Mobile = "Paulo", "06 12 34 56 78" },
		},
		{
			name:    "switch from landline to mobile",
			patch:   ProfilePatch{Phone: ptr(""), Mobile: ptr("0612345678")},
			changed: []string{"phone", "mobile"},
			after:   func(d *ProfileData) { d.Phone, d.Mobile = "", "0612345678" },
		},
		{
			name:  "at least one phone must remain",
			patch: ProfilePatch{Phone: ptr("")},
			codes: map[string][]string{"phone": {"phone_or_mobile_required"}},
		},
		{
			name:  "a new email is not taken from a patch: it must be confirmed",
			patch: ProfilePatch{Email: ptr("paul@example.org"), Language: ptr("en")},
			codes: map[string][]string{"email": {"verification_required"}},
		},
		{
			name:    "the same email in other case and a language",
			patch:   ProfilePatch{Email: ptr("Paul.Dupont@orangecloud.com"), Language: ptr("en")},
			changed: []string{"email", "language"},
			after:   func(d *ProfileData) { d.Email, d.Language = "Paul.Dupont@orangecloud.com", "en" },
		},
		{
			name:  "every bad field is reported",
			patch: ProfilePatch{Email: ptr("paul"), Civility: ptr("x"), LastName: ptr("")},
			codes: map[string][]string{"email": {"invalid"}, "civility": {"invalid"}, "last_name": {"required"}},
		},
		{
			name:  "no actual change gives no event",
			patch: ProfilePatch{LastName: ptr("Dupont"), Civility: ptr("mr")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := Replay([]domain.Event{paulRegistered})
			got, err := id.UpdateProfile(tt.patch, t0.Add(time.Hour))
			if tt.codes != nil {
				checkCodes(t, err, tt.codes)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.changed == nil {
				if len(got) != 0 {
					t.Errorf("events = %v, want none", got)
				}
				return
			}
			after := paulRegistered.ProfileData
			tt.after(&after)
			want := []domain.Event{ProfileUpdated{
				Login: "paul.dupont", Changed: tt.changed, Before: paulRegistered.ProfileData, After: after,
				UpdatedAt: t0.Add(time.Hour),
			}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("events = %+v\nwant %+v", got, want)
			}
			id.Apply(got[0])
			if id.Profile() != after {
				t.Errorf("folded profile = %+v", id.Profile())
			}
		})
	}
}

func TestDecisionsNeedARegisteredIdentity(t *testing.T) {
	var id Identity
	for name, decide := range map[string]func() ([]domain.Event, error){
		"update":   func() ([]domain.Event, error) { return id.UpdateProfile(ProfilePatch{}, t0) },
		"password": func() ([]domain.Event, error) { return id.SetPassword(ReasonChange, t0) },
		"reset":    func() ([]domain.Event, error) { return id.RequestPasswordReset(t0) },
		"reminder": func() ([]domain.Event, error) { return id.RequestLoginReminder(t0) },
	} {
		if _, err := decide(); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("%s: err = %v, want ErrNotFound", name, err)
		}
	}
}

func TestSetPassword(t *testing.T) {
	withPassword := []domain.Event{paulRegistered, PasswordSet{Login: "paul.dupont", At: t0, Reason: ReasonFirst}}
	tests := []struct {
		name    string
		given   []domain.Event
		reason  PasswordReason
		want    PasswordReason
		wantErr error
	}{
		{"the first password is recorded as first", []domain.Event{paulRegistered}, ReasonReset, ReasonFirst, nil},
		{"a reset after the first", withPassword, ReasonReset, ReasonReset, nil},
		{"first on an identity with a password is a reset", withPassword, ReasonFirst, ReasonReset, nil},
		{"a change", withPassword, ReasonChange, ReasonChange, nil},
		{"a change needs a current password", []domain.Event{paulRegistered}, ReasonChange, "", ErrNoPassword},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Minute)
			got, err := Replay(tt.given).SetPassword(tt.reason, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			want := []domain.Event{PasswordSet{Login: "paul.dupont", At: now, Reason: tt.want}}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("events = %+v, want %+v", got, want)
			}
		})
	}
}

func TestPasswordResetLinkIsValid24HoursAndSingleUse(t *testing.T) {
	id := Replay([]domain.Event{paulRegistered})
	evs, err := id.RequestPasswordReset(t0)
	if err != nil {
		t.Fatal(err)
	}
	req := evs[0].(PasswordResetRequested)
	if !req.ExpiresAt.Equal(t0.Add(24*time.Hour)) || req.RequestedAt != t0 {
		t.Fatalf("request = %+v", req)
	}
	id.Apply(req)

	tests := []struct {
		name    string
		given   []domain.Event
		at      time.Time // request time presented
		now     time.Time
		wantErr error
	}{
		{"valid just before 24 h", nil, t0, t0.Add(24*time.Hour - time.Second), nil},
		{"expired at 24 h", nil, t0, t0.Add(24 * time.Hour), ErrResetLinkInvalid},
		{"unknown link", nil, t0.Add(time.Second), t0.Add(time.Minute), ErrResetLinkInvalid},
		{"used once", []domain.Event{PasswordSet{Login: "paul.dupont", At: t0.Add(time.Minute), Reason: ReasonFirst}},
			t0, t0.Add(2 * time.Minute), ErrResetLinkInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := id
			s.resets = append([]PasswordResetRequested(nil), id.resets...)
			for _, e := range tt.given {
				s.Apply(e)
			}
			got, err := s.ResetPassword(tt.at, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				if len(got) != 1 || got[0].(PasswordSet).Reason != ReasonFirst {
					t.Errorf("events = %+v", got)
				}
				return
			}
			if !errors.Is(err, domain.ErrGone) {
				t.Error("an invalid link must be ErrGone (410)")
			}
		})
	}
}

func TestLoginReminderTellsLoginAndEmail(t *testing.T) {
	got, err := Replay([]domain.Event{paulRegistered}).RequestLoginReminder(t0)
	want := []domain.Event{LoginReminderRequested{Login: "paul.dupont", Email: "paul.dupont@orangecloud.com", At: t0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v", got, err)
	}
}

func TestEmailClaim(t *testing.T) {
	email, _ := NewEmail("Paul.Dupont@OrangeCloud.com")
	paul, _ := NewLogin("paul.dupont")
	julie, _ := NewLogin("julie.dupont")
	claimed := EmailClaimed{Email: "paul.dupont@orangecloud.com", Login: "paul.dupont", At: t0}
	released := EmailReleased{Email: "paul.dupont@orangecloud.com", Login: "paul.dupont", At: t0}

	tests := []struct {
		name    string
		given   []domain.Event
		login   Login
		want    []domain.Event
		wantErr error
	}{
		{"a free email is claimed", nil, paul, []domain.Event{claimed}, nil},
		{"claiming one's own email changes nothing", []domain.Event{claimed}, paul, nil, nil},
		{"another identity's email is taken", []domain.Event{claimed}, julie, nil, ErrEmailTaken},
		{"a released email is free again", []domain.Event{claimed, released}, julie,
			[]domain.Event{EmailClaimed{Email: "paul.dupont@orangecloud.com", Login: "julie.dupont", At: t0}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReplayEmailClaim(tt.given).Claim(email, tt.login, t0)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %+v, want %+v", got, tt.want)
			}
		})
	}

	c := ReplayEmailClaim([]domain.Event{claimed})
	if owner, ok := c.Owner(); !ok || owner != "paul.dupont" || c.Version() != 1 {
		t.Errorf("owner %q %v version %d", owner, ok, c.Version())
	}
	if evs, _ := c.Release(email, julie, t0); len(evs) != 0 {
		t.Error("only the owner releases an email")
	}
	if evs, _ := c.Release(email, paul, t0); !reflect.DeepEqual(evs, []domain.Event{released}) {
		t.Errorf("release = %+v", evs)
	}
}

func TestEventTypesRoundTripAndHoldNoSecret(t *testing.T) {
	samples := []domain.Event{
		paulRegistered,
		ProfileUpdated{Login: "paul.dupont", Changed: []string{"email"}, Before: paulRegistered.ProfileData, After: paulRegistered.ProfileData, UpdatedAt: t0},
		PasswordSet{Login: "paul.dupont", At: t0, Reason: ReasonReset},
		PasswordResetRequested{Login: "paul.dupont", RequestedAt: t0, ExpiresAt: t0.Add(ResetLinkValidity)},
		LoginReminderRequested{Login: "paul.dupont", Email: "p@example.com", At: t0},
		EmailClaimed{Email: "p@example.com", Login: "paul.dupont", At: t0},
		EmailReleased{Email: "p@example.com", Login: "paul.dupont", At: t0},
		EmailChangeRequested{Login: "paul.dupont", Email: "p@example.org", OldEmail: "p@example.com", RequestedAt: t0, ExpiresAt: t0.Add(EmailLinkValidity)},
	}
	domaintest.RoundTrip(t, EventTypes, samples...)
	for _, e := range samples {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		lower := strings.ToLower(string(data))
		for _, secret := range []string{"password\"", "token", "secret", "code", "hash"} {
			if strings.Contains(lower, secret) {
				t.Errorf("%s data %s mentions %q", e.EventType(), data, secret)
			}
		}
	}
}

func TestAnExistingEmailsOwnerIsUsedNotTheTypedLogin(t *testing.T) {
	typed, _ := NewLogin("p.dupont.new")
	claimed := ReplayEmailClaim([]domain.Event{EmailClaimed{Email: "paul.dupont@orangecloud.com", Login: "paul.dupont", At: t0}})
	if login, existing := claimed.LoginFor(typed); login != "paul.dupont" || !existing {
		t.Errorf("claimed email: %q existing=%v", login, existing)
	}
	if login, existing := (EmailClaim{}).LoginFor(typed); login != "p.dupont.new" || existing {
		t.Errorf("free email: %q existing=%v", login, existing)
	}
}

func TestANewEmailCountsOnlyOnceConfirmedThroughItsLink(t *testing.T) {
	newEmail, err := NewEmail("paul@example.org")
	if err != nil {
		t.Fatal(err)
	}
	id := Replay([]domain.Event{paulRegistered})
	requested, err := id.RequestEmailChange(newEmail, t0)
	if err != nil || len(requested) != 1 {
		t.Fatalf("request: %v, %v", requested, err)
	}
	id.Apply(requested[0])
	if id.Email().String() != paulRegistered.Email {
		t.Errorf("email after the request = %s, want the old one still in force", id.Email())
	}
	if pending, exp, ok := id.PendingEmail(); !ok || pending != "paul@example.org" || !exp.Equal(t0.Add(24*time.Hour)) {
		t.Errorf("pending = %q %v %t", pending, exp, ok)
	}
	at := requested[0].(EmailChangeRequested).RequestedAt

	if _, err := id.ConfirmEmailChange(at, t0.Add(24*time.Hour)); !errors.Is(err, ErrEmailLinkInvalid) {
		t.Errorf("confirm after 24 h: %v, want ErrEmailLinkInvalid", err)
	}
	if _, err := id.ConfirmEmailChange(at.Add(time.Second), t0.Add(time.Hour)); !errors.Is(err, ErrEmailLinkInvalid) {
		t.Errorf("confirm another request: %v, want ErrEmailLinkInvalid", err)
	}
	confirmed, err := id.ConfirmEmailChange(at, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	u := confirmed[0].(ProfileUpdated)
	if !u.EmailVerified || u.After.Email != "paul@example.org" || u.Before.Email != paulRegistered.Email || !reflect.DeepEqual(u.Changed, []string{"email"}) {
		t.Errorf("confirmation = %+v", u)
	}
	id.Apply(u)
	if id.Email().String() != "paul@example.org" {
		t.Errorf("email after confirmation = %s", id.Email())
	}
	if _, _, ok := id.PendingEmail(); ok {
		t.Error("a change is still pending after its confirmation")
	}
	if _, err := id.ConfirmEmailChange(at, t0.Add(2*time.Hour)); !errors.Is(err, ErrEmailLinkInvalid) {
		t.Errorf("second use of the link: %v, want ErrEmailLinkInvalid", err)
	}
}

func TestALaterEmailChangeRequestVoidsTheEarlierLink(t *testing.T) {
	first, _ := NewEmail("first@example.org")
	second, _ := NewEmail("second@example.org")
	id := Replay([]domain.Event{paulRegistered})
	e1, _ := id.RequestEmailChange(first, t0)
	id.Apply(e1[0])
	e2, _ := id.RequestEmailChange(second, t0.Add(time.Minute))
	id.Apply(e2[0])
	if _, err := id.ConfirmEmailChange(t0, t0.Add(time.Hour)); !errors.Is(err, ErrEmailLinkInvalid) {
		t.Errorf("the first link after a second request: %v, want ErrEmailLinkInvalid", err)
	}
	if same, err := id.RequestEmailChange(Email{s: strings.ToUpper(paulRegistered.Email)}, t0); err != nil || len(same) != 0 {
		t.Errorf("asking for the current address: %v, %v; want no event", same, err)
	}
}
