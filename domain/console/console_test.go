package console

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"selfcare/domain"
	"selfcare/domain/domaintest"
)

const (
	cid   = "OCB0000124"
	login = "julie.dupont"
	email = "julie.dupont2@orangecloud.com"
	key1  = "AKIA0000000000000001"
	key2  = "AKIA0000000000000002"
	key3  = "AKIA0000000000000003"
)

var t0 = time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)

// code is a verification code issued at t0 with the value 123456.
func code() VerificationCode {
	return VerificationCode{Code: "123456", IssuedAt: t0, ExpiresAt: t0.Add(CodeValidity)}
}

func sent() VerificationCodeSent {
	return VerificationCodeSent{ContractID: cid, Login: login, IssuedAt: t0, ExpiresAt: t0.Add(CodeValidity)}
}

// verified returns an account folded from given and a proof for it.
func verified(t *testing.T, given ...domain.Event) (Account, Verified) {
	t.Helper()
	a := Replay(cid, login, append([]domain.Event{sent()}, given...))
	_, v, err := a.Verify(code(), "123456", t0.Add(time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return a, v
}

func TestVerificationCodeRules(t *testing.T) {
	tests := []struct {
		name     string
		record   func(VerificationCode) VerificationCode
		entered  string
		at       time.Duration // after issue
		wantErr  error
		invalid  bool
		attempts int
		used     bool
	}{
		{"the right code within 60 s", nil, "123456", 59 * time.Second, nil, false, 0, true},
		{"expired at 60 s", nil, "123456", 60 * time.Second, ErrCodeExpired, false, 0, false},
		{"a wrong code counts an attempt", nil, "654321", time.Second, nil, true, 1, false},
		{"a malformed code counts an attempt", nil, "12345", time.Second, nil, true, 1, false},
		{"the fifth wrong code is still a wrong code", func(c VerificationCode) VerificationCode { c.Attempts = 4; return c },
			"000000", time.Second, nil, true, 5, false},
		{"after 5 wrong codes even the right one is refused", func(c VerificationCode) VerificationCode { c.Attempts = 5; return c },
			"123456", time.Second, ErrCodeVoid, false, 5, false},
		{"a code works once", func(c VerificationCode) VerificationCode { c.Used = true; return c },
			"123456", time.Second, ErrCodeUsed, false, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := code()
			if tt.record != nil {
				c = tt.record(c)
			}
			got, err := c.Check(tt.entered, t0.Add(tt.at))
			switch {
			case tt.invalid:
				var ve *domain.ValidationError
				if !errors.As(err, &ve) || ve.Errors[0].Field != "verification_code" || ve.Errors[0].Code != "invalid" {
					t.Fatalf("err = %v, want verification_code invalid", err)
				}
			case !errors.Is(err, tt.wantErr):
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !errors.Is(err, domain.ErrGone) {
				t.Errorf("%v must be ErrGone (410)", err)
			}
			if got.Attempts != tt.attempts || got.Used != tt.used {
				t.Errorf("record after check: attempts=%d used=%v", got.Attempts, got.Used)
			}
		})
	}
}

func TestNewVerificationCode(t *testing.T) {
	c, err := NewVerificationCode(bytes.NewReader([]byte{0, 1, 2, 3, 4, 255, 5}), t0)
	if err != nil {
		t.Fatal(err)
	}
	// 255 is above the largest multiple of 10 below 256: dropped.
	if c.Code != "012345" || !c.IssuedAt.Equal(t0) || !c.ExpiresAt.Equal(t0.Add(60*time.Second)) {
		t.Errorf("code = %+v", c)
	}
	if _, err := NewVerificationCode(iotest.ErrReader(errors.New("no entropy")), t0); err == nil {
		t.Error("a failing random source must fail")
	}
	for range 100 {
		c, err := NewVerificationCode(rand.Reader, t0)
		if err != nil || len(c.Code) != 6 || strings.Trim(c.Code, "0123456789") != "" {
			t.Fatalf("code %q, %v", c.Code, err)
		}
	}
}

func TestANewCodeVoidsThePreviousOne(t *testing.T) {
	later := VerificationCode{Code: "999999", IssuedAt: t0.Add(10 * time.Second), ExpiresAt: t0.Add(70 * time.Second)}
	a := Replay(cid, login, nil)
	evs, err := a.SendVerificationCode(code())
	if err != nil || !reflect.DeepEqual(evs, []domain.Event{sent()}) {
		t.Fatalf("send = %+v, %v", evs, err)
	}
	a.Apply(evs[0])
	evs, _ = a.SendVerificationCode(later)
	a.Apply(evs[0])

	if _, _, err := a.Verify(code(), "123456", t0.Add(20*time.Second)); !errors.Is(err, ErrCodeVoid) {
		t.Errorf("the first code: err = %v, want ErrCodeVoid", err)
	}
	rec, v, err := a.Verify(later, "999999", t0.Add(20*time.Second))
	if err != nil || v.IsZero() || !rec.Used {
		t.Errorf("the latest code: %v, proof zero=%v, used=%v", err, v.IsZero(), rec.Used)
	}
	if _, _, err := Replay(cid, login, nil).Verify(code(), "123456", t0); !errors.Is(err, ErrCodeVoid) {
		t.Errorf("a code never sent: %v", err)
	}
}

func TestSetAPIPassword(t *testing.T) {
	a, v := verified(t)
	got, err := a.SetAPIPassword(v, t0.Add(time.Minute))
	want := []domain.Event{ApiPasswordSet{ContractID: cid, Login: login, At: t0.Add(time.Minute)}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v", got, err)
	}
	if _, err := a.SetAPIPassword(Verified{}, t0); !errors.Is(err, ErrNotVerified) {
		t.Errorf("without a verified code: %v", err)
	}
	_, other := verified(t)
	other.login = "someone.else"
	if _, err := a.SetAPIPassword(other, t0); !errors.Is(err, ErrNotVerified) {
		t.Errorf("with another account's proof: %v", err)
	}
}

func TestAccessKeys(t *testing.T) {
	pw := ApiPasswordSet{ContractID: cid, Login: login, At: t0}
	created := func(id string) AccessKeyCreated {
		return AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: id, At: t0}
	}
	now := t0.Add(time.Minute)
	tests := []struct {
		name    string
		given   []domain.Event
		key     string
		want    []domain.Event
		wantErr error
	}{
		{"the first key", []domain.Event{pw}, key1, []domain.Event{AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key1, At: now}}, nil},
		{"a second key", []domain.Event{pw, created(key1)}, key2, []domain.Event{AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key2, At: now}}, nil},
		{"at most 2 access keys", []domain.Event{pw, created(key1), created(key2)}, key3, nil, ErrAccessKeyLimit},
		{"a deleted key frees a place", []domain.Event{pw, created(key1), created(key2),
			AccessKeyDeleted{ContractID: cid, Login: login, AccessKeyID: key1, Reason: DeletedByUser, At: t0}},
			key3, []domain.Event{AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key3, At: now}}, nil},
		{"an access key needs an API password", nil, key1, nil, ErrAPIPasswordNotSet},
		{"the API password removed with the account", []domain.Event{pw, ApiPasswordRemoved{ContractID: cid, Login: login, At: t0}}, key1, nil, ErrAPIPasswordNotSet},
		{"ids are unique", []domain.Event{pw, created(key1)}, key1, nil, ErrAccessKeyExists},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, v := verified(t, tt.given...)
			got, err := a.CreateAccessKey(v, tt.key, now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events = %+v, want %+v", got, tt.want)
			}
		})
	}
	if !errors.Is(ErrAccessKeyLimit, domain.ErrConflict) {
		t.Error("the limit must be a conflict (409)")
	}

	a, v := verified(t, pw)
	if _, err := a.CreateAccessKey(Verified{}, key1, now); !errors.Is(err, ErrNotVerified) {
		t.Errorf("without verification: %v", err)
	}
	if _, err := a.CreateAccessKey(v, "akia0000000000000001", now); err == nil {
		t.Error("a lower-case key id was accepted")
	}
}

func TestDeleteAccessKey(t *testing.T) {
	a := Replay(cid, login, []domain.Event{
		ApiPasswordSet{ContractID: cid, Login: login, At: t0},
		AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key1, At: t0},
		AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key2, At: t0},
	})
	got, err := a.DeleteAccessKey(key1, t0)
	want := []domain.Event{AccessKeyDeleted{ContractID: cid, Login: login, AccessKeyID: key1, Reason: DeletedByUser, At: t0}}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("got %+v, %v", got, err)
	}
	a.Apply(got[0])
	if keys := a.AccessKeys(); len(keys) != 1 || keys[0].ID != key2 {
		t.Errorf("keys after delete = %+v", keys)
	}
	if _, err := a.DeleteAccessKey(key1, t0); !errors.Is(err, ErrAccessKeyNotFound) || !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleting an unknown key: %v", err)
	}
}

func TestRevokeDropsEveryCredential(t *testing.T) {
	a := Replay(cid, login, []domain.Event{
		ApiPasswordSet{ContractID: cid, Login: login, At: t0},
		AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key1, At: t0},
		AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key2, At: t0},
	})
	got, err := a.Revoke(t0)
	want := []domain.Event{
		AccessKeyDeleted{ContractID: cid, Login: login, AccessKeyID: key1, Reason: DeletedDeprovisioned, At: t0},
		AccessKeyDeleted{ContractID: cid, Login: login, AccessKeyID: key2, Reason: DeletedDeprovisioned, At: t0},
		ApiPasswordRemoved{ContractID: cid, Login: login, At: t0},
	}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, %v", got, err)
	}
	for _, e := range got {
		a.Apply(e)
	}
	if a.HasAPIPassword() || len(a.AccessKeys()) != 0 {
		t.Error("credentials survived revocation")
	}
	if evs, _ := a.Revoke(t0); len(evs) != 0 {
		t.Errorf("revoking twice: %+v", evs)
	}
}

func TestCheckAPIPassword(t *testing.T) {
	ok := APIPasswordInput{ContractID: cid, Email: "Julie.Dupont2@OrangeCloud.com", NewPassword: "Kz7#qmWvxr", ConfirmPassword: "Kz7#qmWvxr"}
	tests := []struct {
		name   string
		change func(*APIPasswordInput)
		want   map[string][]string
	}{
		{"a strong password", func(*APIPasswordInput) {}, nil},
		{"the same policy as the customer area", func(in *APIPasswordInput) { in.NewPassword, in.ConfirmPassword = "password", "password" },
			map[string][]string{"new_password": {"missing_uppercase", "missing_digit", "missing_special", "common_password"}}},
		{"containing the login is allowed, only equality is refused", func(in *APIPasswordInput) { in.NewPassword, in.ConfirmPassword = "Julie.Dupont7", "Julie.Dupont7" }, nil},
		{"not the email", func(in *APIPasswordInput) {
			in.NewPassword, in.ConfirmPassword = "JULIE.dupont2@orangecloud.com", "JULIE.dupont2@orangecloud.com"
		}, map[string][]string{"new_password": {"same_as_email"}}},
		{"the two passwords must match", func(in *APIPasswordInput) { in.ConfirmPassword = "Kz7#qmWvx" },
			map[string][]string{"confirm_password": {"mismatch"}}},
		{"step 1 must name this console account", func(in *APIPasswordInput) { in.ContractID, in.Email = "OCB0000999", "paul@example.com" },
			map[string][]string{"contract_id": {"mismatch"}, "email": {"mismatch"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := ok
			tt.change(&in)
			strength, err := CheckAPIPassword(in, cid, login, email)
			if tt.want == nil {
				if err != nil || strength == "" {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("err = %v", err)
			}
			got := map[string][]string{}
			for _, fe := range ve.Errors {
				got[fe.Field] = append(got[fe.Field], fe.Code)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("errors = %v, want %v", got, tt.want)
			}
		})
	}
	_, err := CheckAPIPassword(APIPasswordInput{ContractID: cid, Email: email, NewPassword: "Julie.Dupont-7", ConfirmPassword: "Julie.Dupont-7"}, cid, "julie.dupont-7", email)
	var ve *domain.ValidationError
	if !errors.As(err, &ve) || ve.Errors[0].Code != "same_as_login" {
		t.Errorf("same as login: %v", err)
	}
}

func TestAccessKeyFormats(t *testing.T) {
	k, err := NewAccessKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if !ValidAccessKeyID(k.ID) || !ValidSecretAccessKey(k.Secret) {
		t.Errorf("key %+v", k)
	}
	if strings.ToUpper(k.ID) != k.ID || len(k.ID) != 20 || len(k.Secret) != 40 {
		t.Errorf("formats: %q %q", k.ID, k.Secret)
	}
	// Deterministic with a deterministic source.
	seed := bytes.Repeat([]byte{7, 40, 61, 200}, 40)
	a, _ := NewAccessKey(bytes.NewReader(seed))
	b, _ := NewAccessKey(bytes.NewReader(seed))
	if a != b {
		t.Error("the same random source gave different keys")
	}
	if _, err := NewAccessKey(iotest.ErrReader(errors.New("no entropy"))); err == nil {
		t.Error("a failing random source must fail")
	}
	for _, bad := range []string{"AKIA000000000000000", "AKIA00000000000000001", "AKIA000000000000000a", "AKIA00000000000000-1"} {
		if ValidAccessKeyID(bad) {
			t.Errorf("%q accepted", bad)
		}
	}
	if ValidSecretAccessKey(strings.Repeat("a", 39)+"/") || !ValidSecretAccessKey(strings.Repeat("aZ9", 13)+"x") {
		t.Error("secret format")
	}
}

func TestEventTypesRoundTripAndHoldNoSecret(t *testing.T) {
	samples := []domain.Event{
		ApiPasswordSet{ContractID: cid, Login: login, At: t0},
		ApiPasswordRemoved{ContractID: cid, Login: login, At: t0},
		AccessKeyCreated{ContractID: cid, Login: login, AccessKeyID: key1, At: t0},
		AccessKeyDeleted{ContractID: cid, Login: login, AccessKeyID: key1, Reason: DeletedByUser, At: t0},
		sent(),
		ConsoleSignInGranted{ContractID: cid, Login: login, ClientID: "console", Address: "192.0.2.1", Roles: []string{"admin"}, At: t0},
		ConsoleSignInDenied{ContractID: cid, Login: login, ClientID: "console", Address: "192.0.2.1", Reason: DeniedNoConsoleAccount, At: t0},
	}
	domaintest.RoundTrip(t, EventTypes, samples...)
	for _, e := range samples {
		data, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		for _, secret := range []string{`"code"`, `"secret`, `"password"`, `"hash"`, `"token"`} {
			if bytes.Contains(data, []byte(secret)) {
				t.Errorf("%s holds %s: %s", e.EventType(), secret, data)
			}
		}
	}
	if Stream(cid, "Julie.Dupont") != "console-OCB0000124-julie.dupont" {
		t.Errorf("stream = %s", Stream(cid, "Julie.Dupont"))
	}
}
