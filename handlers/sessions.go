package handlers

import (
	"net/http"
	"time"

	"selfcare/commands"
)

// SessionsAPI signs users in and out.
type SessionsAPI struct {
	Sessions *commands.Sessions
	// Provider, if set, is the OpenID provider whose browser session the
	// sign-out ends too.
	Provider interface {
		EndBrowserSession(w http.ResponseWriter, r *http.Request) error
	}
}

// Routes registers the session endpoints.
func (f SessionsAPI) Routes(r *Routes) {
	r.Handle("POST /api/v1/sessions", f.create)
	r.Handle("DELETE /api/v1/sessions/current", f.delete)
}

func (f SessionsAPI) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Login    string `json:"login"`
		Password string `json:"password"`
		// A solved captcha, needed once the login had too many failed
		// sign-ins (answered 401 with type captchaRequiredType).
		CaptchaID     string `json:"captcha_id"`
		CaptchaAnswer string `json:"captcha_answer"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	token, expires, err := f.Sessions.SignIn(r.Context(), in.Login, in.Password, commands.CaptchaAnswer{ID: in.CaptchaID, Answer: in.CaptchaAnswer})
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{
		"token":      token,
		"token_type": "Bearer",
		"expires_at": expires.UTC().Format(time.RFC3339),
	})
}

func (f SessionsAPI) delete(w http.ResponseWriter, r *http.Request) {
	if err := f.Sessions.SignOut(r.Context(), principalFrom(r.Context()).token); err != nil {
		fail(w, r, err)
		return
	}
	if f.Provider != nil {
		if err := f.Provider.EndBrowserSession(w, r); err != nil {
			fail(w, r, err)
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}
