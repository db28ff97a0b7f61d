package handlers

import (
	"net/http"
	"strings"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/identity"
	"selfcare/projections/members"
)

// AccountAPI serves "my account": the signed-in user's profile and
// password.
type AccountAPI struct {
	Account *commands.Account
	Members members.Queries
}

// Routes registers the account endpoints.
func (f AccountAPI) Routes(r *Routes) {
	r.Handle("GET /api/v1/me", f.get)
	r.Handle("PATCH /api/v1/me", f.patch)
	r.Handle("PUT /api/v1/me/password", f.password)
	r.Handle("POST /api/v1/email-confirmations", f.confirmEmail)
}

func (f AccountAPI) writeMe(w http.ResponseWriter, r *http.Request) {
	readOwnWrites(r, members.Name)
	me, err := f.Members.Identity(r.Context(), principalFrom(r.Context()).login)
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("ETag", commands.ProfileETag(me.Login, me.ProfileData))
	writeJSON(w, http.StatusOK, me)
}

func (f AccountAPI) get(w http.ResponseWriter, r *http.Request) { f.writeMe(w, r) }

func (f AccountAPI) patch(w http.ResponseWriter, r *http.Request) {
	var in struct {
		identity.ProfilePatch
		Login *string `json:"login"`
		// CurrentPassword is required to change the email (SPEC §10).
		CurrentPassword string `json:"current_password"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	login := principalFrom(r.Context()).login
	if in.Login != nil && !strings.EqualFold(strings.TrimSpace(*in.Login), login) {
		fail(w, r, domain.Invalid("login", "read_only", "the login cannot be changed"))
		return
	}
	if err := f.Account.UpdateProfile(r.Context(), login, in.ProfilePatch, r.Header.Get("If-Match"), in.CurrentPassword); err != nil {
		fail(w, r, err)
		return
	}
	f.writeMe(w, r)
}

func (f AccountAPI) password(w http.ResponseWriter, r *http.Request) {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
		ConfirmPassword string `json:"confirm_password"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	p := principalFrom(r.Context())
	strength, err := f.Account.ChangePassword(r.Context(), p.login, in.CurrentPassword, in.NewPassword, in.ConfirmPassword, p.token)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"strength":        strength,
		"other_sessions":  "revoked",
		"current_session": "kept",
	})
}

// confirmEmail applies a change of email through the link mailed to the
// new address. Anyone holding the link may: it may be opened on another
// device than the one that asked.
func (f AccountAPI) confirmEmail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	login, err := f.Account.ConfirmEmail(r.Context(), in.Token)
	if err != nil {
		fail(w, r, err)
		return
	}
	readOwnWrites(r, members.Name)
	me, err := f.Members.Identity(r.Context(), login)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"login": me.Login, "email": me.Email})
}
