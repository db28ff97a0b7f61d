package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"selfcare/internal/oidcop"
)

// ConsoleRP is a relying party playing the cloud console in tests, written
// with the standard client libraries (coreos/go-oidc and x/oauth2): it
// starts sign-ins (its own login page: /login?company=...; the
// third-party-initiated login the button opens: /initiate), completes them
// with PKCE S256, verifies each ID token against the provider's JWKS, and
// shows and records the outcome.
type ConsoleRP struct {
	t        testing.TB
	HTTP     *httptest.Server
	URL      string
	ClientID string
	Secret   string
	Issuer   string
	Provider *gooidc.Provider
	Verifier *gooidc.IDTokenVerifier

	mu       sync.Mutex
	pending  map[string]pendingSignIn // by state
	outcomes []RPOutcome
}

type pendingSignIn struct{ nonce, verifier, company string }

// RPOutcome is how a sign-in ended at the relying party.
type RPOutcome struct {
	Error       string         // the provider's error (access_denied...)
	Claims      map[string]any // the verified ID token's claims
	IDToken     string
	AccessToken string
	Userinfo    map[string]any
}

// StartConsoleRP registers a client with the env's provider and starts
// the relying party.
func StartConsoleRP(e *Env) *ConsoleRP {
	e.T.Helper()
	rp := &ConsoleRP{t: e.T, ClientID: Unique("console-"), pending: map[string]pendingSignIn{}}
	rp.HTTP = httptest.NewServer(http.HandlerFunc(rp.serve))
	e.T.Cleanup(rp.HTTP.Close)
	rp.URL = rp.HTTP.URL
	secret, err := e.Server.OIDC.Clients.Add(context.Background(), oidcop.Client{
		ID: rp.ClientID, Name: "Flexible Engine console", RedirectURIs: []string{rp.URL + "/callback"},
		PostLogoutURIs: []string{rp.URL + "/signed-out"}, InitiateLoginURI: rp.URL + "/initiate",
	})
	if err != nil {
		e.T.Fatal(err)
	}
	rp.Secret, rp.Issuer = secret, e.URL
	rp.Provider, err = gooidc.NewProvider(context.Background(), e.URL)
	if err != nil {
		e.T.Fatalf("discovery: %v", err)
	}
	rp.Verifier = rp.Provider.Verifier(&gooidc.Config{ClientID: rp.ClientID})
	return rp
}

// OAuth2 is the client configuration for company account cid.
func (rp *ConsoleRP) OAuth2(cid string) *oauth2.Config {
	endpoint := rp.Provider.Endpoint()
	// One attempt per exchange (no guessing of the auth style, which would
	// retry a refused exchange with a code the provider has redeemed).
	endpoint.AuthStyle = oauth2.AuthStyleInHeader
	return &oauth2.Config{
		ClientID: rp.ClientID, ClientSecret: rp.Secret, Endpoint: endpoint,
		RedirectURL: rp.URL + "/callback",
		Scopes:      []string{gooidc.ScopeOpenID, "profile", "email", oidcop.CompanyScopePrefix + cid},
	}
}

// AuthURL starts a sign-in for company account cid and returns the
// authorization URL with its state; extra are more parameters.
func (rp *ConsoleRP) AuthURL(cid string, extra ...oauth2.AuthCodeOption) (authURL, state string) {
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	rp.mu.Lock()
	rp.pending[state] = pendingSignIn{nonce: nonce, verifier: verifier, company: cid}
	rp.mu.Unlock()
	opts := append([]oauth2.AuthCodeOption{gooidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)}, extra...)
	return rp.OAuth2(cid).AuthCodeURL(state, opts...), state
}

// Exchange redeems a code of the sign-in of state, with its PKCE verifier
// when withVerifier, and verifies the ID token.
func (rp *ConsoleRP) Exchange(ctx context.Context, state, code string, withVerifier bool) (RPOutcome, error) {
	rp.mu.Lock()
	p, ok := rp.pending[state]
	rp.mu.Unlock()
	if !ok {
		return RPOutcome{}, fmt.Errorf("unknown state %q", state)
	}
	var opts []oauth2.AuthCodeOption
	if withVerifier {
		opts = append(opts, oauth2.VerifierOption(p.verifier))
	}
	tok, err := rp.OAuth2(p.company).Exchange(ctx, code, opts...)
	if err != nil {
		return RPOutcome{}, err
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := rp.Verifier.Verify(ctx, raw)
	if err != nil {
		return RPOutcome{}, fmt.Errorf("verify ID token: %w", err)
	}
	if idt.Nonce != p.nonce {
		return RPOutcome{}, fmt.Errorf("nonce %q, want %q", idt.Nonce, p.nonce)
	}
	out := RPOutcome{IDToken: raw, AccessToken: tok.AccessToken}
	if err := idt.Claims(&out.Claims); err != nil {
		return RPOutcome{}, err
	}
	info, err := rp.Provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		return RPOutcome{}, fmt.Errorf("userinfo: %w", err)
	}
	if err := info.Claims(&out.Userinfo); err != nil {
		return RPOutcome{}, err
	}
	return out, nil
}

// Outcomes returns the sign-ins completed at /callback so far.
func (rp *ConsoleRP) Outcomes() []RPOutcome {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]RPOutcome(nil), rp.outcomes...)
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (rp *ConsoleRP) serve(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/login": // the console's own login page, company account typed
		var extra []oauth2.AuthCodeOption
		if p := q.Get("prompt"); p != "" {
			extra = append(extra, oauth2.SetAuthURLParam("prompt", p))
		}
		u, _ := rp.AuthURL(q.Get("company"), extra...)
		http.Redirect(w, r, u, http.StatusFound)
	case "/initiate": // OIDC Core §4: third-party-initiated login
		if q.Get("iss") != rp.Issuer {
			http.Error(w, "unknown issuer "+q.Get("iss"), http.StatusBadRequest)
			return
		}
		u, _ := rp.AuthURL(q.Get("company"), oauth2.SetAuthURLParam("login_hint", q.Get("login_hint")))
		http.Redirect(w, r, u, http.StatusFound)
	case "/callback":
		var out RPOutcome
		if e := q.Get("error"); e != "" {
			out.Error = e
		} else {
			var err error
			if out, err = rp.Exchange(r.Context(), q.Get("state"), q.Get("code"), true); err != nil {
				out.Error = "rp: " + err.Error()
			}
		}
		rp.mu.Lock()
		rp.outcomes = append(rp.outcomes, out)
		rp.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if out.Error != "" {
			fmt.Fprintf(w, `<!doctype html><p id="rp-error">%s</p>`, html.EscapeString(out.Error))
			return
		}
		fmt.Fprintf(w, `<!doctype html><p id="rp-signed-in">%s</p><p id="rp-roles">%v</p>`,
			html.EscapeString(fmt.Sprint(out.Claims["preferred_username"])), html.EscapeString(fmt.Sprint(out.Claims[oidcop.ClaimConsoleRoles])))
	case "/signed-out":
		fmt.Fprint(w, `<!doctype html><p id="rp-signed-out">signed out</p>`)
	default:
		http.NotFound(w, r)
	}
}
