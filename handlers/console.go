package handlers

import (
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"selfcare/commands"
	"selfcare/domain/console"
	"selfcare/projections/credentials"
	"selfcare/projections/members"
)

// ConsoleAPI serves a member's console access (SPEC §5): SSO to the
// console, and the API credentials of their console account. Every route
// needs a console role on the contract (rights table: CanUseConsole).
type ConsoleAPI struct {
	SSO         *commands.ConsoleSSO
	Credentials *commands.ConsoleCredentials
	Captchas    *commands.Captchas
	Members     members.Queries
	Keys        credentials.Queries
}

// Routes registers the console endpoints.
func (f ConsoleAPI) Routes(r *Routes) {
	r.Handle("POST /api/v1/contracts/{cid}/console/sso", f.sso)
	r.Handle("POST /api/v1/contracts/{cid}/console/verification-codes", f.sendCode)
	r.Handle("GET /api/v1/contracts/{cid}/console/api-password", f.apiPassword)
	r.Handle("PUT /api/v1/contracts/{cid}/console/api-password", f.setAPIPassword)
	r.Handle("GET /api/v1/contracts/{cid}/console/access-keys", f.listKeys)
	r.Handle("POST /api/v1/contracts/{cid}/console/access-keys", f.createKey)
	r.Handle("DELETE /api/v1/contracts/{cid}/console/access-keys/{akid}", f.deleteKey)
}

// sso issues the home-made signed assertion. Deprecated: the console signs
// in through the OpenID provider (oidc.go, POST .../console/sign-in); this
// stays for consoles that still read the assertion.
func (f ConsoleAPI) sso(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	c, err := f.Members.Contract(r.Context(), m.contractID)
	if err != nil {
		fail(w, r, err)
		return
	}
	login := principalFrom(r.Context()).login
	a, err := f.SSO.Issue(login, c.ID, c.PlatformID, m.roles.Console.Names())
	if err != nil {
		fail(w, r, err)
		return
	}
	loggerFrom(r.Context()).Info("console assertion issued", "contract", c.ID, "login", login, "expires_at", a.ExpiresAt)
	writeJSON(w, http.StatusOK, map[string]any{
		"redirect_url": a.RedirectURL,
		"assertion":    a.Token,
		"expires_at":   a.ExpiresAt.UTC().Format(time.RFC3339),
	})
}

// sendCode emails a verification code. SPEC §5 has a captcha guard the
// sending: the body carries {captcha_id, captcha_answer}, required unless
// captchas are disabled (then the body may be empty).
func (f ConsoleAPI) sendCode(w http.ResponseWriter, r *http.Request) {
	var in captchaFields
	if r.ContentLength != 0 {
		if err := decode(w, r, &in); err != nil {
			fail(w, r, err)
			return
		}
	}
	if err := f.Captchas.Check(r.Context(), in.CaptchaID, in.CaptchaAnswer); err != nil {
		fail(w, r, err)
		return
	}
	m := memberFrom(r.Context())
	if err := f.Credentials.SendCode(r.Context(), m.contractID, principalFrom(r.Context()).login); err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{
		"status":     "sent",
		"detail":     "a 6-digit verification code has been emailed to you; it is valid 60 seconds and voids any earlier one",
		"expires_in": 60,
	})
}

func (f ConsoleAPI) setAPIPassword(w http.ResponseWriter, r *http.Request) {
	var in commands.APIPasswordForm
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	m := memberFrom(r.Context())
	if err := f.Credentials.SetAPIPassword(r.Context(), m.contractID, principalFrom(r.Context()).login, in); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiPassword tells whether the caller's API password on the contract is
// set, and since when, so that a client offers access keys only once it is.
func (f ConsoleAPI) apiPassword(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	at, err := f.Keys.APIPasswordSetAt(r.Context(), m.contractID, principalFrom(r.Context()).login)
	if err != nil {
		fail(w, r, err)
		return
	}
	out := map[string]any{"set": at != nil}
	if at != nil {
		out["set_at"] = at.Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
}

func (f ConsoleAPI) listKeys(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	keys, err := f.Keys.AccessKeys(r.Context(), m.contractID, principalFrom(r.Context()).login)
	if err != nil {
		fail(w, r, err)
		return
	}
	if keys == nil {
		keys = []credentials.AccessKey{}
	}
	writeJSON(w, http.StatusOK, keys)
}

func (f ConsoleAPI) createKey(w http.ResponseWriter, r *http.Request) {
	var in struct {
		APIPassword      string `json:"api_password"`
		VerificationCode string `json:"verification_code"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	m := memberFrom(r.Context())
	k, err := f.Credentials.CreateAccessKey(r.Context(), m.contractID, principalFrom(r.Context()).login, in.APIPassword, in.VerificationCode)
	// Both refusals are 409s: the field code tells a client which.
	switch {
	case errors.Is(err, console.ErrAPIPasswordNotSet):
		err = conflictOn("api_password", "not_set", err)
	case errors.Is(err, console.ErrAccessKeyLimit):
		err = conflictOn("access_keys", "limit_reached", err)
	}
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/contracts/"+m.contractID+"/console/access-keys/"+k.ID)
	showsSecretOnce(r)
	writeJSON(w, http.StatusCreated, map[string]any{
		"access_key_id":     k.ID,
		"secret_access_key": k.Secret,
		"created_at":        k.CreatedAt.UTC().Format(time.RFC3339),
		"status":            "active",
	})
}

func (f ConsoleAPI) deleteKey(w http.ResponseWriter, r *http.Request) {
	m := memberFrom(r.Context())
	if err := f.Credentials.DeleteAccessKey(r.Context(), m.contractID, principalFrom(r.Context()).login, mux.Vars(r)["akid"]); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
