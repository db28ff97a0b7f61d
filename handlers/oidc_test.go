package handlers_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"

	"selfcare/domain/console"
	"selfcare/internal/clock"
	"selfcare/internal/oidcop"
	"selfcare/internal/testkit"
)

// browserlessClient follows no redirect and keeps cookies, as a browser's
// jar does: each step of a sign-in is checked.
func browserlessClient(t *testing.T) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

type step struct {
	status   int
	location *url.URL
	body     string
	header   http.Header
}

func get(t *testing.T, c *http.Client, base, u string) step {
	t.Helper()
	return do(t, c, base, http.MethodGet, u, nil, "")
}

func do(t *testing.T, c *http.Client, base, method, u string, form url.Values, bearer string) step {
	t.Helper()
	ref, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := url.Parse(base)
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.ResolveReference(ref).String(), body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	s := step{status: resp.StatusCode, body: string(raw), header: resp.Header}
	if loc := resp.Header.Get("Location"); loc != "" {
		s.location = req.URL.ResolveReference(mustParse(t, loc))
	}
	return s
}

func mustParse(t *testing.T, u string) *url.URL {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	formID   = regexp.MustCompile(`name="id" value="([^"]+)"`)
	formCSRF = regexp.MustCompile(`name="csrf" value="([^"]+)"`)
)

// toLoginPage follows an authorization request to the provider's sign-in
// page and returns it.
func toLoginPage(t *testing.T, env *testkit.Env, c *http.Client, authURL string) step {
	t.Helper()
	s := get(t, c, env.URL, authURL)
	if s.status != http.StatusFound || s.location == nil || s.location.Path != oidcop.LoginPath {
		t.Fatalf("authorize: %d to %v, want 302 to the sign-in page: %s", s.status, s.location, s.body)
	}
	return get(t, c, env.URL, s.location.String())
}

// submitLogin posts the sign-in form of page.
func submitLogin(t *testing.T, env *testkit.Env, c *http.Client, page step, login, password string) step {
	t.Helper()
	id, csrf := formID.FindStringSubmatch(page.body), formCSRF.FindStringSubmatch(page.body)
	if page.status != http.StatusOK || id == nil || csrf == nil {
		t.Fatalf("no sign-in form: %d %s", page.status, page.body)
	}
	return do(t, c, env.URL, http.MethodPost, oidcop.LoginPath, url.Values{"id": {id[1]}, "csrf": {csrf[1]}, "login": {login}, "password": {password}}, "")
}

// backToRP follows the provider's answer to the sign-in form (or to an
// authorization with a live session) back to the relying party.
func backToRP(t *testing.T, env *testkit.Env, c *http.Client, rp *testkit.ConsoleRP, s step) url.Values {
	t.Helper()
	for range 3 {
		if s.location == nil {
			t.Fatalf("no redirect: %d %s", s.status, s.body)
		}
		if strings.HasPrefix(s.location.String(), rp.URL+"/callback") {
			return s.location.Query()
		}
		s = get(t, c, env.URL, s.location.String())
	}
	t.Fatalf("never back at the relying party: %v", s.location)
	return nil
}

// signInForCode runs the code flow for login and returns the state and code.
func signInForCode(t *testing.T, env *testkit.Env, c *http.Client, rp *testkit.ConsoleRP, cid, login string) (state, code string) {
	t.Helper()
	authURL, state := rp.AuthURL(cid)
	q := backToRP(t, env, c, rp, submitLogin(t, env, c, toLoginPage(t, env, c, authURL), login, testkit.Password))
	if q.Get("state") != state || q.Get("code") == "" {
		t.Fatalf("back at the relying party with %v, want a code for state %s", q, state)
	}
	return state, q.Get("code")
}

func TestOIDCProviderFollowsTheProtocol(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.CheckOpenAPI())
	c := env.NewContract("SL_Prod")
	user := env.AddSignedInUser(c, "console.admin.", nil, "admin")
	rp := testkit.StartConsoleRP(env)
	ctx := context.Background()

	t.Run("discovery names the issuer, S256 and the endpoints", func(t *testing.T) {
		var d map[string]any
		testkit.Expect(t, env.Get(oidcop.DiscoveryPath, ""), http.StatusOK).JSON(t, &d)
		if d["issuer"] != env.URL || d["jwks_uri"] != env.URL+oidcop.KeysPath || d["authorization_endpoint"] != env.URL+oidcop.AuthorizePath {
			t.Errorf("discovery: %v", d)
		}
		if m, _ := d["code_challenge_methods_supported"].([]any); !slices.Contains(m, any("S256")) {
			t.Errorf("code_challenge_methods_supported = %v", m)
		}
	})

	t.Run("a code gives verified tokens with the console claims, once", func(t *testing.T) {
		client := browserlessClient(t)
		state, code := signInForCode(t, env, client, rp, c.ID, user.Login)
		out, err := rp.Exchange(ctx, state, code, true)
		if err != nil {
			t.Fatal(err)
		}
		var contract struct {
			PlatformID string `json:"platform_id"`
		}
		testkit.Expect(t, env.Get("/api/v1/contracts/"+c.ID, c.ReferentToken), http.StatusOK).JSON(t, &contract)
		for _, claims := range []map[string]any{out.Claims, out.Userinfo} {
			if claims["sub"] != strings.ToLower(user.Login) || claims["preferred_username"] != user.Login ||
				claims["email"] != user.Login+"@example.com" || claims[oidcop.ClaimCompanyAccount] != c.ID ||
				claims[oidcop.ClaimDomainID] != contract.PlatformID || contract.PlatformID == "" ||
				claims["name"] == "" || claims["locale"] == nil {
				t.Errorf("claims: %v", claims)
			}
			if roles, _ := claims[oidcop.ClaimConsoleRoles].([]any); len(roles) != 1 || roles[0] != "admin" {
				t.Errorf("console roles: %v", claims[oidcop.ClaimConsoleRoles])
			}
		}
		if _, err := rp.Exchange(ctx, state, code, true); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
			t.Errorf("the code used twice: %v, want invalid_grant", err)
		}
	})

	t.Run("a code without its PKCE verifier is refused", func(t *testing.T) {
		client := browserlessClient(t)
		state, code := signInForCode(t, env, client, rp, c.ID, user.Login)
		if _, err := rp.Exchange(ctx, state, code, false); err == nil || !strings.Contains(err.Error(), "code_verifier") {
			t.Errorf("no verifier: %v, want a refusal naming code_verifier", err)
		}
	})

	t.Run("authorization requests are refused as the specification says", func(t *testing.T) {
		cfg := rp.OAuth2(c.ID)
		other := *cfg
		other.RedirectURL = rp.URL + "/callback/elsewhere"
		noCompany := *cfg
		noCompany.Scopes = []string{"openid"}
		for name, tc := range map[string]struct {
			url       string
			toRPError string // "": not sent back to the relying party at all
		}{
			"a redirect URI not registered exactly": {other.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), ""},
			"an unknown client":                     {strings.Replace(cfg.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "client_id="+rp.ClientID, "client_id=nobody", 1), ""},
			"no PKCE":                               {cfg.AuthCodeURL("s"), "invalid_request"},
			"plain PKCE":                            {cfg.AuthCodeURL("s", oauth2.SetAuthURLParam("code_challenge", strings.Repeat("a", 43)), oauth2.SetAuthURLParam("code_challenge_method", "plain")), "invalid_request"},
			"no company account":                    {noCompany.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())), "invalid_scope"},
		} {
			t.Run(name, func(t *testing.T) {
				s := get(t, browserlessClient(t), env.URL, tc.url)
				if tc.toRPError == "" {
					if s.status != http.StatusBadRequest || (s.location != nil && strings.HasPrefix(s.location.String(), rp.URL)) {
						t.Errorf("%d to %v, want 400 and no redirect", s.status, s.location)
					}
					return
				}
				if s.location == nil || !strings.HasPrefix(s.location.String(), rp.URL+"/callback") || s.location.Query().Get("error") != tc.toRPError {
					t.Errorf("%d to %v, want back to the relying party with error=%s", s.status, s.location, tc.toRPError)
				}
			})
		}
	})

	t.Run("prompt=none without a provider session: login_required", func(t *testing.T) {
		client := browserlessClient(t)
		authURL, state := rp.AuthURL(c.ID, oauth2.SetAuthURLParam("prompt", "none"))
		s := get(t, client, env.URL, authURL)
		q := backToRP(t, env, client, rp, s)
		if q.Get("error") != "login_required" || q.Get("state") != state {
			t.Errorf("back with %v, want error=login_required", q)
		}
	})

	t.Run("no console role on the company account: access_denied, recorded", func(t *testing.T) {
		nobody := env.AddSignedInUser(c, "no.console.", nil)
		client := browserlessClient(t)
		authURL, state := rp.AuthURL(c.ID)
		q := backToRP(t, env, client, rp, submitLogin(t, env, client, toLoginPage(t, env, client, authURL), nobody.Login, testkit.Password))
		if q.Get("error") != "access_denied" || q.Get("state") != state || q.Get("code") != "" {
			t.Fatalf("back with %v, want error=access_denied", q)
		}
		recs := env.Stream(console.SignInStream(nobody.Login))
		if len(recs) != 1 || recs[0].Type != "ConsoleSignInDenied" {
			t.Fatalf("events: %+v", recs)
		}
		var denied console.ConsoleSignInDenied
		if err := json.Unmarshal(recs[0].Data, &denied); err != nil || denied.ClientID != rp.ClientID || denied.ContractID != c.ID ||
			denied.Address == "" || denied.Reason != console.DeniedNoConsoleAccount {
			t.Errorf("denied: %+v %v", denied, err)
		}
	})

	t.Run("sign-ins are in the auditors' feed", func(t *testing.T) {
		var page struct {
			Events []struct {
				Type string          `json:"type"`
				Data json.RawMessage `json:"data"`
			} `json:"events"`
		}
		// The feed is gap-safe: an event may be held back a moment while an
		// older transaction is still in flight, so read until both show.
		seen := map[string]bool{}
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			testkit.Expect(t, env.Get("/api/v1/events?types=ConsoleSignInGranted,ConsoleSignInDenied&limit=500", testkit.AuditorToken), http.StatusOK).JSON(t, &page)
			for _, e := range page.Events {
				var d struct {
					ClientID string `json:"client_id"`
					Address  string `json:"address"`
				}
				_ = json.Unmarshal(e.Data, &d)
				if d.ClientID == rp.ClientID && d.Address != "" {
					seen[e.Type] = true
				}
			}
			if seen["ConsoleSignInGranted"] && seen["ConsoleSignInDenied"] {
				break
			}
		}
		if !seen["ConsoleSignInGranted"] || !seen["ConsoleSignInDenied"] {
			t.Errorf("feed: %v", seen)
		}
	})

	t.Run("the sign-in page shares the sign-in throttle and guards its form", func(t *testing.T) {
		victim := env.AddSignedInUser(c, "throttled.", nil, "guest")
		client := browserlessClient(t)
		authURL, _ := rp.AuthURL(c.ID)
		page := toLoginPage(t, env, client, authURL)
		if !strings.Contains(page.body, `href="/#/forgot-password"`) || !strings.Contains(page.body, `href="/#/forgot-login"`) {
			t.Errorf("the page lacks the forgotten password and login links")
		}
		forged := do(t, browserlessClient(t), env.URL, http.MethodPost, oidcop.LoginPath, url.Values{
			"id": {formID.FindStringSubmatch(page.body)[1]}, "csrf": {formCSRF.FindStringSubmatch(page.body)[1]},
			"login": {victim.Login}, "password": {testkit.Password}}, "")
		if forged.status != http.StatusForbidden {
			t.Errorf("a form posted without the browser's CSRF cookie: %d, want 403", forged.status)
		}
		last := 0
		for range 6 {
			s := submitLogin(t, env, client, page, victim.Login, "wrong-password")
			last = s.status
			if s.status == http.StatusUnauthorized && !strings.Contains(s.body, "Wrong login or password") {
				t.Errorf("wrong password page: %s", s.body)
			}
		}
		if last != http.StatusTooManyRequests {
			t.Errorf("sixth wrong password: %d, want 429", last)
		}
		r := env.Post("/api/v1/sessions", "", map[string]string{"login": victim.Login, "password": testkit.Password})
		testkit.Expect(t, r, http.StatusTooManyRequests)
	})

	t.Run("the button opens the provider session; sign-out and logout end it", func(t *testing.T) {
		client := browserlessClient(t)
		var started struct {
			RedirectURL string `json:"redirect_url"`
		}
		s := do(t, client, env.URL, http.MethodPost, "/api/v1/contracts/"+c.ID+"/console/sign-in", url.Values{}, user.Token)
		if s.status != http.StatusOK || json.Unmarshal([]byte(s.body), &started) != nil {
			t.Fatalf("console/sign-in: %d %s", s.status, s.body)
		}
		cookie := s.header.Get("Set-Cookie")
		if !strings.Contains(cookie, oidcop.CookieName+"=") || !strings.Contains(cookie, "HttpOnly") || !strings.Contains(cookie, "SameSite=Lax") {
			t.Errorf("cookie: %s", cookie)
		}
		u := mustParse(t, started.RedirectURL)
		if !strings.HasPrefix(started.RedirectURL, rp.URL+"/initiate?") || u.Query().Get("iss") != env.URL ||
			u.Query().Get("company") != c.ID || u.Query().Get("login_hint") != user.Login {
			t.Fatalf("redirect_url: %s", started.RedirectURL)
		}
		// The session spares the password...
		authURL, state := rp.AuthURL(c.ID)
		first := get(t, client, env.URL, authURL)
		q := backToRP(t, env, client, rp, get(t, client, env.URL, first.location.String()))
		if q.Get("code") == "" {
			t.Fatalf("with a provider session: %v, want a code at once", q)
		}
		out, err := rp.Exchange(ctx, state, q.Get("code"), true)
		if err != nil {
			t.Fatal(err)
		}
		// ... but not with prompt=login.
		forced, _ := rp.AuthURL(c.ID, oauth2.SetAuthURLParam("prompt", "login"))
		if p := toLoginPage(t, env, client, forced); p.status != http.StatusOK || !strings.Contains(p.body, `id="oidc-signin-form"`) {
			t.Errorf("prompt=login: %d, want the sign-in page", p.status)
		}
		// RP-initiated logout ends it.
		logout := get(t, client, env.URL, oidcop.EndSessionPath+"?"+url.Values{"id_token_hint": {out.IDToken},
			"post_logout_redirect_uri": {rp.URL + "/signed-out"}, "client_id": {rp.ClientID}}.Encode())
		if logout.location == nil || logout.location.String() != rp.URL+"/signed-out" {
			t.Fatalf("end_session: %d to %v: %s", logout.status, logout.location, logout.body)
		}
		again, _ := rp.AuthURL(c.ID)
		if p := toLoginPage(t, env, client, again); !strings.Contains(p.body, `id="oidc-signin-form"`) {
			t.Errorf("after logout: %d, want the sign-in page", p.status)
		}
		// The customer area's sign-out ends a session opened by the button.
		token := env.SignIn(user.Login, testkit.Password)
		do(t, client, env.URL, http.MethodPost, "/api/v1/contracts/"+c.ID+"/console/sign-in", url.Values{}, token)
		if s := do(t, client, env.URL, http.MethodDelete, "/api/v1/sessions/current", nil, token); s.status != http.StatusNoContent {
			t.Fatalf("sign out: %d %s", s.status, s.body)
		}
		after, _ := rp.AuthURL(c.ID)
		if p := toLoginPage(t, env, client, after); !strings.Contains(p.body, `id="oidc-signin-form"`) {
			t.Errorf("after signing out of the customer area: %d, want the sign-in page", p.status)
		}
	})
}

// jwks fetches the provider's published keys.
func jwks(t *testing.T, env *testkit.Env) jose.JSONWebKeySet {
	t.Helper()
	var set jose.JSONWebKeySet
	testkit.Expect(t, env.Get(oidcop.KeysPath, ""), http.StatusOK).JSON(t, &set)
	return set
}

// verifyWith checks token's signature against set and returns its kid.
func verifyWith(t *testing.T, set jose.JSONWebKeySet, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	kid := jws.Signatures[0].Header.KeyID
	keys := set.Key(kid)
	if len(keys) != 1 {
		t.Fatalf("the JWKS has no key %s", kid)
	}
	if _, err := jws.Verify(keys[0].Key); err != nil {
		t.Fatalf("token of key %s does not verify: %v", kid, err)
	}
	return kid
}

func TestOIDCClaimsFollowRoleChangesAndKeysRotate(t *testing.T) {
	t.Parallel()
	clk := clock.NewManual(time.Now())
	env := testkit.New(t, testkit.WithClock(clk), testkit.CheckOpenAPI())
	c := env.NewContract("SL_Prod")
	user := env.AddSignedInUser(c, "console.", nil, "admin")
	rp := testkit.StartConsoleRP(env)
	ctx := context.Background()
	client := browserlessClient(t)
	roles := func(out testkit.RPOutcome) any { return out.Claims[oidcop.ClaimConsoleRoles] }

	state, code := signInForCode(t, env, client, rp, c.ID, user.Login)
	first, err := rp.Exchange(ctx, state, code, true)
	if err != nil {
		t.Fatal(err)
	}
	kid1 := verifyWith(t, jwks(t, env), first.IDToken)

	// A role change shows at the next sign-in (no password: the session).
	env.GrantConsoleRoles(c.ID, user.Login, "guest")
	authURL, state := rp.AuthURL(c.ID)
	q := backToRP(t, env, client, rp, get(t, client, env.URL, get(t, client, env.URL, authURL).location.String()))
	second, err := rp.Exchange(ctx, state, q.Get("code"), true)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := roles(second).([]any); len(r) != 1 || r[0] != "guest" {
		t.Errorf("after the change: console roles %v, want [guest] (first sign-in: %v)", roles(second), roles(first))
	}
	verifyWith(t, jwks(t, env), second.IDToken)

	// Deprovisioned: the next sign-in is denied, and userinfo refuses the
	// tokens issued before.
	env.GrantConsoleRoles(c.ID, user.Login)
	authURL, _ = rp.AuthURL(c.ID)
	q = backToRP(t, env, client, rp, get(t, client, env.URL, get(t, client, env.URL, authURL).location.String()))
	if q.Get("error") != "access_denied" {
		t.Errorf("deprovisioned: back with %v, want access_denied", q)
	}
	if _, err := rp.Provider.UserInfo(ctx, oauth2.StaticTokenSource(&oauth2.Token{AccessToken: second.AccessToken, TokenType: "Bearer"})); err == nil {
		t.Errorf("userinfo still answers for a deprovisioned user")
	}

	// Keys rotate: after 30 days a new key signs, the old one stays
	// published while its tokens may live, then goes.
	env.GrantConsoleRoles(c.ID, user.Login, "admin")
	clk.Advance(31 * 24 * time.Hour)
	state, code = signInForCode(t, env, browserlessClient(t), rp, c.ID, user.Login)
	third, err := rp.Exchange(ctx, state, code, true)
	if err != nil {
		t.Fatal(err)
	}
	set := jwks(t, env)
	kid3 := verifyWith(t, set, third.IDToken)
	if kid3 == kid1 || verifyWith(t, set, first.IDToken) != kid1 {
		t.Errorf("no rotation: kid %s then %s", kid1, kid3)
	}
	clk.Advance(2 * time.Hour)
	set = jwks(t, env)
	if len(set.Key(kid1)) != 0 || len(set.Key(kid3)) != 1 {
		t.Errorf("after the old tokens expired the JWKS is %v, want only %s", set.Keys, kid3)
	}
}
