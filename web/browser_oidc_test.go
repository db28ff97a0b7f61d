package web_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"selfcare/internal/oidcop"
	"selfcare/internal/testkit"
)

// TestConsoleSignsInThroughOpenIDConnect plays the two ways into the
// console of guide §4 in chromium, the console being a relying party
// written with coreos/go-oidc and x/oauth2 (testkit.ConsoleRP): directly
// (§4.2: company account typed at the console, the provider's sign-in
// page, back with an ID token carrying the console roles) and from the
// customer area's button (§4.1: no password asked).
func TestConsoleSignsInThroughOpenIDConnect(t *testing.T) {
	wait := startBrowser(t)
	env := testkit.New(t, testkit.CheckOpenAPI())
	c := env.NewContract("SL_Prod")
	admin := env.DeclareMember(c.ID, map[string]string{"contract": "visitor", "dashboard": "visitor"})
	env.SignInNew(admin.Login)
	env.GrantConsoleRoles(c.ID, admin.Login, "admin")
	outsider := env.AddSignedInUser(c, "no.console.", nil)
	rp := testkit.StartConsoleRP(env)
	browser := wait()

	t.Run("direct access: company account, sign-in page, ID token with the console roles", func(t *testing.T) {
		tb := openTab(t, browser, env.URL)
		tb.do(chromedp.Navigate(rp.URL + "/login?company=" + url.QueryEscape(c.ID)))
		tb.visible(`#oidc-signin-form`)
		if got := tb.text(`#oidc-company`); got != c.ID {
			t.Errorf("the sign-in page names the company account %q", got)
		}
		if tb.count(`#forgot-password-link`) != 1 || tb.count(`#forgot-login-link`) != 1 {
			t.Errorf("the sign-in page lacks the forgotten links")
		}
		tb.do(
			chromedp.SetValue(chromedp.CSS(`#oidc-login`), admin.Login),
			chromedp.SetValue(chromedp.CSS(`#oidc-password`), testkit.Password),
			chromedp.Click(chromedp.CSS(`#oidc-signin-submit`)),
		)
		if got := tb.text(`#rp-signed-in`); got != admin.Login {
			t.Fatalf("the console signed in %q", got)
		}
		out := rp.Outcomes()
		last := out[len(out)-1]
		if r, _ := last.Claims[oidcop.ClaimConsoleRoles].([]any); len(r) != 1 || r[0] != "admin" || last.Claims[oidcop.ClaimCompanyAccount] != c.ID {
			t.Errorf("ID token claims: %v", last.Claims)
		}
	})

	t.Run("the sign-in page speaks French", func(t *testing.T) {
		tb := openTab(t, browser, env.URL)
		tb.do(chromedp.Navigate(rp.URL + "/login?company=" + url.QueryEscape(c.ID)))
		tb.click(`#oidc-lang`)
		tb.visible(`#oidc-signin-form`)
		if got := tb.text(`#oidc-signin-submit`); got != "Se connecter" {
			t.Errorf("French submit button: %q", got)
		}
	})

	t.Run("no console role: the console gets access_denied", func(t *testing.T) {
		tb := openTab(t, browser, env.URL)
		tb.do(chromedp.Navigate(rp.URL + "/login?company=" + url.QueryEscape(c.ID)))
		tb.do(
			chromedp.WaitVisible(chromedp.CSS(`#oidc-signin-form`)),
			chromedp.SetValue(chromedp.CSS(`#oidc-login`), outsider.Login),
			chromedp.SetValue(chromedp.CSS(`#oidc-password`), testkit.Password),
			chromedp.Click(chromedp.CSS(`#oidc-signin-submit`)),
		)
		if got := tb.text(`#rp-error`); got != "access_denied" {
			t.Errorf("the console got %q", got)
		}
	})

	t.Run("single sign-on from the button asks no password", func(t *testing.T) {
		tb := openTab(t, browser, env.URL)
		var mu sync.Mutex
		var pages []string // documents loaded, in order
		err := chromedp.Listen(tb.ctx, func(ev any) {
			if e, ok := ev.(*network.EventResponseReceived); ok && e.Type == network.ResourceTypeDocument {
				mu.Lock()
				pages = append(pages, e.Response.URL)
				mu.Unlock()
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		tb.open("#/sign-in")
		tb.signIn(admin.Login, testkit.Password)
		tb.open("#/contracts/" + c.ID + "/dashboard")
		tb.click(`#console-sso`)
		if got := tb.text(`#rp-signed-in`); got != admin.Login {
			t.Fatalf("the console signed in %q", got)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, p := range pages {
			if strings.HasPrefix(p, env.URL+oidcop.LoginPath) {
				t.Errorf("the provider's sign-in page was shown: %v", pages)
			}
		}
		if len(pages) == 0 || !strings.HasPrefix(pages[len(pages)-1], rp.URL+"/callback") {
			t.Errorf("documents loaded: %v", pages)
		}
		out := rp.Outcomes()
		if r, _ := out[len(out)-1].Claims[oidcop.ClaimConsoleRoles].([]any); len(r) != 1 || r[0] != "admin" {
			t.Errorf("ID token claims: %v", out[len(out)-1].Claims)
		}
	})
}
