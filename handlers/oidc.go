package handlers

import (
	"net/http"

	"selfcare/internal/oidcop"
)

// OIDCProvider serves the OpenID provider of the console (SPEC §10): the
// protocol endpoints of zitadel/oidc's op package, its sign-in page, and
// the start of the console's sign-in from the "Access the technical
// console" button (guide §4.1).
type OIDCProvider struct {
	Provider *oidcop.Provider
}

// Routes registers the provider's endpoints.
func (f OIDCProvider) Routes(r *Routes) {
	protocol := f.Provider.Protocol()
	for _, e := range []string{
		"GET " + oidcop.DiscoveryPath,
		"GET " + oidcop.AuthorizePath,
		"POST " + oidcop.AuthorizePath, // OIDC Core §3.1.2.1: GET and POST
		"GET " + oidcop.CallbackPath,
		"POST " + oidcop.TokenPath,
		"GET " + oidcop.UserinfoPath,
		"POST " + oidcop.UserinfoPath,
		"GET " + oidcop.KeysPath,
		"GET " + oidcop.EndSessionPath,
		"POST " + oidcop.EndSessionPath,
		"POST " + oidcop.RevocationPath,
		"POST " + oidcop.IntrospectPath,
	} {
		r.HandleHTTP(e, protocol)
	}
	r.Handle("GET "+oidcop.LoginPath, f.Provider.LoginPage)
	r.Handle("POST "+oidcop.LoginPath, f.Provider.SignIn)
	r.Handle("POST /api/v1/contracts/{cid}/console/sign-in", f.startConsole)
}

// startConsole opens the provider session of the caller (a cookie) and
// answers where to send the browser: the console's initiate-login URI.
func (f OIDCProvider) startConsole(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	url, err := f.Provider.StartConsole(w, r, p.token, p.login, memberFrom(r.Context()).contractID)
	if err != nil {
		fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"redirect_url": url})
}
