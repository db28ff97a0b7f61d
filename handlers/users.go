package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/identity"
	memberships "selfcare/domain/membership"
	"selfcare/projections/members"
)

// Default links of the external applications (guide §5.6, §5.8): both live
// in the corporate customer area.
const (
	DefaultIncidentsURL      = "https://espaceclient.orange-business.com/incidents"
	DefaultChangeRequestsURL = "https://espaceclient.orange-business.com/change-requests"
)

// UsersAPI serves the users and console users of a contract, their roles,
// the contract's console roles and support page, and the back office's
// console groups and external-account flags.
type UsersAPI struct {
	Users   *commands.Users
	Members members.Queries
	// IncidentsURL and ChangeRequestsURL are the "open an incident" and
	// "manage your services" links; empty means the defaults.
	IncidentsURL      string
	ChangeRequestsURL string
}

// Routes registers the users endpoints.
func (f UsersAPI) Routes(r *Routes) {
	r.HandleRead("GET /api/v1/contracts/{cid}/users", f.list, pageRead(members.UsersRead))
	r.Handle("POST /api/v1/contracts/{cid}/users", f.add)
	r.Handle("GET /api/v1/contracts/{cid}/users/{login}", f.get)
	r.Handle("PUT /api/v1/contracts/{cid}/users/{login}/roles", f.changeRoles)
	r.Handle("DELETE /api/v1/contracts/{cid}/users/{login}", f.remove)
	r.Handle("GET /api/v1/contracts/{cid}/users/{login}/roles", f.rolesAsOf)
	r.HandleRead("GET /api/v1/contracts/{cid}/console-users", f.listConsole, pageRead(members.ConsoleUsersRead))
	r.Handle("POST /api/v1/contracts/{cid}/console-users", f.addConsole)
	r.Handle("PUT /api/v1/contracts/{cid}/console-users/{login}/roles", f.changeConsoleRoles)
	r.Handle("GET /api/v1/contracts/{cid}/console-roles", f.consoleRoles)
	r.Handle("GET /api/v1/contracts/{cid}/support", f.support)
	r.Handle("POST /api/v1/admin/contracts/{cid}/console-groups", f.createConsoleGroup)
	r.Handle("PUT /api/v1/admin/contracts/{cid}/users/{login}/external-accounts", f.setExternalAccounts)
}

// addedUser is the answer to an addition: the user, and whether an
// existing identity was used instead of the login typed (SPEC §1).
type addedUser struct {
	members.User
	ExistingIdentity bool   `json:"existing_identity"`
	RequestedLogin   string `json:"requested_login"`
}

func (f UsersAPI) list(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Members.Users(r.Context(), mux.Vars(r)["cid"], r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

func (f UsersAPI) listConsole(w http.ResponseWriter, r *http.Request) {
	items, next, err := f.Members.ConsoleUsers(r.Context(), mux.Vars(r)["cid"], r.URL.Query())
	if err != nil {
		fail(w, r, err)
		return
	}
	writeList(w, items, next)
}

func (f UsersAPI) add(w http.ResponseWriter, r *http.Request) {
	f.addWith(w, r, f.Users.Add)
}

func (f UsersAPI) addConsole(w http.ResponseWriter, r *http.Request) {
	f.addWith(w, r, f.Users.AddConsoleUser)
}

type addFunc func(ctx context.Context, cid string, by memberships.Authority, in commands.UserInput) (commands.AddedUser, error)

func (f UsersAPI) addWith(w http.ResponseWriter, r *http.Request, add addFunc) {
	var in commands.UserInput
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	cid := mux.Vars(r)["cid"]
	added, err := add(r.Context(), cid, authorityOf(r), in)
	switch {
	case errors.Is(err, identity.ErrLoginTaken):
		fail(w, r, conflictOn("login", "taken", err))
		return
	case errors.Is(err, memberships.ErrAlreadyMember):
		// Only an email names an existing identity (SPEC §1).
		fail(w, r, conflictOn("email", "already_member", err))
		return
	case err != nil:
		fail(w, r, err)
		return
	}
	readOwnWrites(r, members.Name)
	u, err := f.Members.User(r.Context(), cid, added.Login)
	if err != nil {
		fail(w, r, err)
		return
	}
	w.Header().Set("Location", userPath(cid, u.Login))
	setETag(w, u)
	writeJSON(w, http.StatusCreated, addedUser{User: u, ExistingIdentity: added.ExistingIdentity, RequestedLogin: added.RequestedLogin})
}

func (f UsersAPI) get(w http.ResponseWriter, r *http.Request) {
	f.writeUser(w, r, mux.Vars(r)["login"])
}

// writeUser answers with the user and their ETag.
func (f UsersAPI) writeUser(w http.ResponseWriter, r *http.Request, login string) {
	readOwnWrites(r, members.Name)
	u, err := f.Members.User(r.Context(), mux.Vars(r)["cid"], login)
	if err != nil {
		fail(w, r, err)
		return
	}
	setETag(w, u)
	writeJSON(w, http.StatusOK, u)
}

func (f UsersAPI) changeRoles(w http.ResponseWriter, r *http.Request) {
	var in commands.RolesInput
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	f.changeRolesWith(w, r, in)
}

func (f UsersAPI) changeConsoleRoles(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Console *[]string `json:"console"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	if in.Console == nil {
		fail(w, r, domain.Invalid("console", "required", "give the console roles ([] removes them all)"))
		return
	}
	f.changeRolesWith(w, r, commands.RolesInput{Console: in.Console})
}

func (f UsersAPI) changeRolesWith(w http.ResponseWriter, r *http.Request, in commands.RolesInput) {
	v := mux.Vars(r)
	if err := f.Users.ChangeRoles(r.Context(), v["cid"], v["login"], authorityOf(r), in, precondition(r)); err != nil {
		fail(w, r, err)
		return
	}
	f.writeUser(w, r, v["login"])
}

func (f UsersAPI) remove(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	if err := f.Users.Remove(r.Context(), v["cid"], v["login"], authorityOf(r), precondition(r)); err != nil {
		fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// rolesAsOf answers what the user held at ?as_of= (default: now), replayed
// from the event store. A user not declared on the contract at that
// instant is a 200 with "member": false, not a 404: "no role then" is an
// answer an auditor needs; 404 is kept for an unknown contract.
func (f UsersAPI) rolesAsOf(w http.ResponseWriter, r *http.Request) {
	v := mux.Vars(r)
	at := f.Users.Now()
	if s := r.URL.Query().Get("as_of"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fail(w, r, domain.Invalid("as_of", "invalid", "as_of is an RFC 3339 instant (2026-11-24T10:00:00Z)"))
			return
		}
		at = t
	}
	res, err := f.Users.RolesAsOf(r.Context(), v["cid"], v["login"], at)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"contract": res.ContractID,
		"login":    res.Login,
		"as_of":    res.AsOf.Format(time.RFC3339Nano),
		"member":   res.Member,
		"referent": res.Referent,
		"profiles": res.Roles.Profiles,
		"console":  res.Roles.Console,
		"version":  res.Version,
	})
}

func (f UsersAPI) consoleRoles(w http.ResponseWriter, r *http.Request) {
	c, err := f.Members.Contract(r.Context(), mux.Vars(r)["cid"])
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, access.ConsoleRoleChoices(c.ConsoleGroups))
}

// supportLink is a link of the support page.
type supportLink struct {
	Rel   string `json:"rel"`
	Title string `json:"title"`
	URL   string `json:"url"`
}

// support answers the support-centre contact and the links to the external
// applications the member has an account on. "Manage your services" is a
// link of the services section (SPEC §2), so it also needs services:
// visitor.
func (f UsersAPI) support(w http.ResponseWriter, r *http.Request) {
	cid := mux.Vars(r)["cid"]
	c, err := f.Members.Contract(r.Context(), cid)
	if err != nil {
		fail(w, r, err)
		return
	}
	m := memberFrom(r.Context())
	u, err := f.Members.User(r.Context(), cid, principalFrom(r.Context()).login)
	if err != nil {
		fail(w, r, err)
		return
	}
	links := []supportLink{}
	if u.ExternalAccounts.Incidents {
		links = append(links, supportLink{Rel: "open_incident", Title: "Open an incident ticket", URL: orDefault(f.IncidentsURL, DefaultIncidentsURL)})
	}
	if u.ExternalAccounts.ChangeRequests && m.roles.Can(access.CanSeeCatalog) {
		links = append(links, supportLink{Rel: "manage_services", Title: "Manage your services", URL: orDefault(f.ChangeRequestsURL, DefaultChangeRequestsURL)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c.SupportContact, "links": links})
}

func (f UsersAPI) createConsoleGroup(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	cid := mux.Vars(r)["cid"]
	name, err := f.Users.CreateConsoleGroup(r.Context(), cid, in.Name)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"contract": cid, "name": name, "kind": "group"})
}

func (f UsersAPI) setExternalAccounts(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Incidents      *bool `json:"incidents"`
		ChangeRequests *bool `json:"change_requests"`
	}
	if err := decode(w, r, &in); err != nil {
		fail(w, r, err)
		return
	}
	var bad domain.ValidationError
	if in.Incidents == nil {
		bad.Add("incidents", "required", "say whether the user has an account on the incidents application")
	}
	if in.ChangeRequests == nil {
		bad.Add("change_requests", "required", "say whether the user has an account on the change-requests application")
	}
	if err := bad.Err(); err != nil {
		fail(w, r, err)
		return
	}
	v := mux.Vars(r)
	if err := f.Users.SetExternalAccounts(r.Context(), v["cid"], v["login"], *in.Incidents, *in.ChangeRequests); err != nil {
		fail(w, r, err)
		return
	}
	f.writeUser(w, r, v["login"])
}

// authorityOf is what the caller may change on the users of the contract:
// the back office everything, a member according to their users profile.
func authorityOf(r *http.Request) memberships.Authority {
	if principalFrom(r.Context()).kind == operatorPrincipal {
		return memberships.AllRoles
	}
	return memberships.AuthorityOf(memberFrom(r.Context()).roles.Profiles)
}

func userPath(cid, login string) string {
	return "/api/v1/contracts/" + url.PathEscape(cid) + "/users/" + url.PathEscape(login)
}

func setETag(w http.ResponseWriter, u members.User) {
	w.Header().Set("ETag", etag(u.Version))
}

// etag renders a stream version as a strong entity tag: "3".
func etag(version int64) string { return `"` + strconv.FormatInt(version, 10) + `"` }

// precondition reads If-Match. Absent or "*" requires nothing (the command
// needs the resource to exist anyway). Otherwise the stream must be at one
// of the versions listed; weak or malformed tags match nothing (RFC 9110
// compares If-Match strongly), so they give 412.
func precondition(r *http.Request) commands.Precondition {
	h := strings.TrimSpace(r.Header.Get("If-Match"))
	if h == "" || h == "*" {
		return commands.Precondition{}
	}
	var versions []int64
	for _, tag := range strings.Split(h, ",") {
		tag = strings.TrimSpace(tag)
		if len(tag) < 3 || tag[0] != '"' || tag[len(tag)-1] != '"' {
			continue
		}
		if v, err := strconv.ParseInt(tag[1:len(tag)-1], 10, 64); err == nil && v >= 0 {
			versions = append(versions, v)
		}
	}
	return commands.IfMatch(versions...)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
