package handlers

import (
	"net/http"
	"strings"

	"selfcare/commands"
	"selfcare/domain"
)

// PasswordsAPI serves account recovery: set-password links (forgotten or
// first password) and login reminders. The answers never tell whether a
// login or email exists.
type PasswordsAPI struct {
	Passwords *commands.Passwords
	Captchas  *commands.Captchas
}

// Routes registers the account recovery endpoints.
func (f PasswordsAPI) Routes(r *Routes) {
	r.Handle("POST /api/v1/password-requests", f.request)
	r.Handle("POST /api/v1/password-resets", f.reset)
	r.Handle("POST /api/v1/login-reminders", f.remind)
}

type captchaFields struct {
	CaptchaID     string `json:"captcha_id"`
	CaptchaAnswer string `json:"captcha_answer"`
}

func (f PasswordsAPI) request(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Login string `json:"login"`
		captchaFields
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	if strings.TrimSpace(in.Login) == "" {
		fail(w, r, domain.Invalid("login", "required", "type your login"))
		return
	}
	if err := f.Captchas.Check(r.Context(), in.CaptchaID, in.CaptchaAnswer); err != nil {
		fail(w, r, err)
		return
	}
	if err := f.Passwords.RequestReset(r.Context(), in.Login); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{
		"status": "accepted",
		"detail": "if this login exists, an email with a link to set a new password (valid 24 hours) has been sent to its address",
	})
}

func (f PasswordsAPI) reset(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token           string `json:"token"`
		NewPassword     string `json:"new_password"`
		ConfirmPassword string `json:"confirm_password"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	strength, err := f.Passwords.Reset(r.Context(), in.Token, in.NewPassword, in.ConfirmPassword)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"strength": strength})
}

func (f PasswordsAPI) remind(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
		captchaFields
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	if strings.TrimSpace(in.Email) == "" {
		fail(w, r, domain.Invalid("email", "required", "type your email address"))
		return
	}
	if err := f.Captchas.Check(r.Context(), in.CaptchaID, in.CaptchaAnswer); err != nil {
		fail(w, r, err)
		return
	}
	if err := f.Passwords.RemindLogin(r.Context(), in.Email); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{
		"status": "accepted",
		"detail": "if an account has this email address, an email reminding its login has been sent to it",
	})
}
