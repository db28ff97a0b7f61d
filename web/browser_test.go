package web_test

// Browser tests of the web UI: a real selfcare server (testkit) and Debian's
// chromium, headless, driven by chromedp. One browser serves every subtest;
// each subtest opens its own tab in a browser context of its own, whose
// storage (the UI keeps its token in sessionStorage, the language chosen in
// localStorage) starts empty, so subtests run side by side.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"selfcare/internal/testdb"
	"selfcare/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testdb.Main(m)) }

// chromiumPath is where Debian's chromium package installs the browser;
// SELFCARE_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("SELFCARE_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// startBrowser starts a headless chromium for the whole test, and returns
// a func that waits until it is up (the test prepares its data meanwhile).
// Without chromium the test fails: the UI must not go untested silently.
func startBrowser(t *testing.T) (wait func() context.Context) {
	t.Helper()
	path := chromiumPath()
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		t.Fatalf("the web UI tests need chromium at %s (or SELFCARE_CHROMIUM), which is missing: "+
			"install it with `apt-get install chromium` (make test does); stat: %v", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // tests run as root in CI
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// Without these chromium reaches for Google's services, whose
		// connections this closed network refuses.
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("metrics-recording-only", true),
		// Tabs run side by side: none is slowed down as a background one.
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	browserCtx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(cancelBrowser)
	// The first call binds the browser's life to its context: start it with
	// the test's context, and bound the wait apart.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(browserCtx) }()
	return func() context.Context {
		t.Helper()
		select {
		case err := <-started:
			if err != nil {
				t.Fatalf("start chromium at %s: %v", path, err)
			}
		case <-time.After(60 * time.Second):
			cancelBrowser()
			t.Fatalf("chromium at %s did not start within 60 s", path)
		}
		return browserCtx
	}
}

// tab is a browser tab of a subtest. It records the page's script errors
// and security violations (CSP, Trusted Types): any of them fails the test.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string

	mu       sync.Mutex
	problems []string
}

// openTab opens a tab in a new browser context (an incognito-like profile).
func openTab(t *testing.T, browser context.Context, base string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	tb := &tab{t: t, ctx: ctx, base: base}
	err := chromedp.Listen(ctx, func(ev any) {
		switch e := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := e.ExceptionDetails
			text := d.Text
			if d.Exception != nil {
				text += " " + d.Exception.Description
			}
			tb.problem("exception at %s:%d: %s", d.URL, d.LineNumber+1, text)
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range e.Args {
					if a.Description != "" {
						args = append(args, a.Description)
					} else {
						args = append(args, string(a.Value))
					}
				}
				tb.problem("console.error from the page: %s", strings.Join(args, " "))
			}
		case *cdplog.EventEntryAdded:
			// Refused API calls show as network errors, which the UI
			// handles; a server error (5xx) is a problem all the same.
			serverError := e.Entry.Source == cdplog.EntrySourceNetwork && strings.Contains(e.Entry.Text, "status of 5")
			if serverError || e.Entry.Source == cdplog.EntrySourceSecurity || e.Entry.Level == cdplog.EntryLevelError && e.Entry.Source != cdplog.EntrySourceNetwork {
				tb.problem("%s %s: %s %s", e.Entry.Source, e.Entry.Level, e.Entry.Text, e.Entry.URL)
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the tab: %v", err)
	}
	t.Cleanup(func() {
		tb.mu.Lock()
		defer tb.mu.Unlock()
		for _, p := range tb.problems {
			t.Errorf("page problem: %s", p)
		}
	})
	tb.do(chromedp.Navigate("about:blank"))
	return tb
}

func (tb *tab) problem(format string, args ...any) {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.problems = append(tb.problems, fmt.Sprintf(format, args...))
}

// forgetProblems drops the problems recorded so far (one provoked on purpose).
func (tb *tab) forgetProblems() {
	tb.mu.Lock()
	defer tb.mu.Unlock()
	tb.problems = nil
}

// fail stops the test with err and what the page shows.
func (tb *tab) fail(err error) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 2*time.Second)
	defer cancel()
	loc, _ := chromedp.Run(ctx, chromedp.Location())
	body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	tb.t.Fatalf("browser: %v\nat %s, the page shows:\n%s", err, loc, body)
}

// do runs steps, failing the test after 20 s or on error.
func (tb *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		tb.fail(err)
	}
}

// run runs an action that returns a value, failing the test as do does.
func run[T any](tb *tab, a chromedp.Action[T]) T {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 20*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		tb.fail(err)
	}
	return v
}

// open loads the UI at a fragment ("#/sign-in").
func (tb *tab) open(fragment string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(tb.base + "/" + fragment))
}

// visible waits until a node matching the CSS selector is visible.
func (tb *tab) visible(sel string) {
	tb.t.Helper()
	tb.do(chromedp.WaitVisible(chromedp.CSS(sel)))
}

// click clicks the first node matching the CSS selector, once visible.
func (tb *tab) click(sel string) {
	tb.t.Helper()
	tb.do(chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// text returns the text of the first node matching sel, once visible.
func (tb *tab) text(sel string) string {
	tb.t.Helper()
	return strings.TrimSpace(run(tb, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible)))
}

// count counts the nodes matching sel, now.
func (tb *tab) count(sel string) int {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[int](fmt.Sprintf(`document.querySelectorAll(%q).length`, sel)))
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](tb *tab, js string) T {
	tb.t.Helper()
	return run(tb, chromedp.Evaluate[T](js))
}

// until waits until a JavaScript expression is true.
func (tb *tab) until(js string) {
	tb.t.Helper()
	run(tb, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(5*time.Second)))
}

// sessionToken is the token the UI keeps, "" when signed out.
func (tb *tab) sessionToken() string {
	tb.t.Helper()
	return eval[string](tb, `(JSON.parse(sessionStorage.getItem('selfcare.session') || '{}').token) || ''`)
}

// signIn fills the sign-in form and submits it.
func (tb *tab) signIn(login, password string) {
	tb.t.Helper()
	tb.do(
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SetValue(chromedp.CSS(`#signin-login`), login),
		chromedp.SetValue(chromedp.CSS(`#signin-password`), password),
		chromedp.Click(chromedp.CSS(`#signin-submit`)),
	)
}

// typeSignIn is signIn typing key by key, as a person does.
func (tb *tab) typeSignIn(login, password string) {
	tb.t.Helper()
	tb.do(
		chromedp.WaitVisible(chromedp.CSS(`#signin-form`)),
		chromedp.SendKeys(chromedp.CSS(`#signin-login`), login),
		chromedp.SendKeys(chromedp.CSS(`#signin-password`), password+"\n"),
	)
}

// sections lists the section links of the contract bar.
func (tb *tab) sections() []string {
	tb.t.Helper()
	tb.visible(`#sections`)
	return eval[[]string](tb, `[...document.querySelectorAll('#sections a')].map(a => a.dataset.section)`)
}

func TestCustomerAreaInABrowser(t *testing.T) {
	start := time.Now()
	waitBrowser := startBrowser(t)
	f := newFixture(t)
	env := f.env
	f.browser = waitBrowser()
	t.Logf("the server, its data and chromium were ready in %v", time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() { t.Logf("the browser test took %v", time.Since(start).Round(time.Millisecond)) })
	browser := f.browser

	// Subtests run in parallel, each in a tab of its own browser context
	// (its own storage), except this one, which runs first and alone: it
	// moves the server's clock two months on, to bill a month. The
	// sessions opened before have then expired: the referent's is renewed.
	t.Run("invoices: the contact for visitors, the history and detail for managers", f.invoices)
	f.c.ReferentToken = env.SignIn(f.c.ReferentLogin, testkit.Password)
	c, other, visitor := f.c, f.other, f.visitor

	t.Run("a new email takes effect through the link sent to it", f.emailChange)

	t.Run("past too many failures from elsewhere, the sign-in form asks for a captcha", func(t *testing.T) {
		t.Parallel()
		u := env.AddSignedInUser(c, "captcha.", nil)
		// Five wrong passwords from another address (127.0.0.2): the owner
		// here is asked for a captcha, not refused.
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
		elsewhere := &http.Client{Transport: &http.Transport{DialContext: d.DialContext}}
		for i := range 5 {
			resp, err := elsewhere.Post(env.URL+"/api/v1/sessions", "application/json",
				strings.NewReader(fmt.Sprintf(`{"login": %q, "password": "Guess.%d-pass"}`, u.Login, i)))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("guess %d: %d", i, resp.StatusCode)
			}
		}
		tb := openTab(t, browser, env.URL)
		tb.open("")
		tb.signIn(u.Login, testkit.Password)
		tb.visible(`#signin-captcha-image`)
		if got := tb.text(`#signin-error`); !strings.HasPrefix(got, "Too many failed sign-ins") {
			t.Errorf("error shown = %q", got)
		}
		if tok := tb.sessionToken(); tok != "" {
			t.Fatalf("signed in without the captcha: %q", tok)
		}
		// Captchas are not checked in tests: any digits do.
		tb.do(chromedp.SetValue(chromedp.CSS(`#signin-captcha_answer`), "123456"))
		tb.signIn(u.Login, testkit.Password)
		tb.until(`!!(JSON.parse(sessionStorage.getItem('selfcare.session') || '{}').token)`)
	})

	t.Run("a wrong password shows an error and opens no session", func(t *testing.T) {
		t.Parallel()
		tb := openTab(t, browser, env.URL)
		tb.open("")
		tb.typeSignIn(c.ReferentLogin, "Not-the-password.1")
		tb.visible(`#signin-error`)
		if got := tb.text(`#signin-error`); got != "Wrong login or password." {
			t.Errorf("error shown = %q", got)
		}
		if tok := tb.sessionToken(); tok != "" {
			t.Errorf("a session was kept after a refused sign-in: %q", tok)
		}
		hash := eval[string](tb, `location.hash`)
		password := eval[string](tb, `document.querySelector('#signin-password').value`)
		if hash != "#/sign-in" || password != "" {
			t.Errorf("after a refused sign-in: hash %q, password field %q", hash, password)
		}
	})

	t.Run("the referent signs in, finds the contract and its rights, and signs out", func(t *testing.T) {
		t.Parallel()
		tb := openTab(t, browser, env.URL)
		tb.open("#/account/contracts")
		tb.signIn(c.ReferentLogin, testkit.Password)

		// Back where the user was headed: my contracts.
		row := tb.text(`#my-contracts tbody tr`)
		for _, want := range []string{"SL_Prod", c.ID, "Flexible Engine"} {
			if !strings.Contains(row, want) {
				t.Errorf("my contracts row %q lacks %q", row, want)
			}
		}
		token := tb.sessionToken()
		if token == "" {
			t.Fatal("no session token in sessionStorage after signing in")
		}
		if cookies := eval[string](tb, `document.cookie`); cookies != "" {
			t.Errorf("the UI uses cookies: %q", cookies)
		}

		// The list sorts by a column, both ways, and searches.
		names := func() string {
			return eval[string](tb, `[...document.querySelectorAll('#my-contracts tbody td[data-col="name"]')].map(td => td.textContent).join(",")`)
		}
		tb.until(`document.querySelectorAll('#my-contracts tbody tr').length === 2`)
		tb.click(`#my-contracts th button[data-sort="name"]`)
		tb.until(`document.querySelector('#my-contracts th[aria-sort="ascending"]') && !document.querySelector('#my-contracts .list-status').textContent`)
		if got := names(); got != "Alpha_Dev,SL_Prod" {
			t.Errorf("sorted by name: %s", got)
		}
		tb.click(`#my-contracts th button[data-sort="name"]`)
		tb.until(`document.querySelector('#my-contracts th[aria-sort="descending"]') && !document.querySelector('#my-contracts .list-status').textContent`)
		if got := names(); got != "SL_Prod,Alpha_Dev" {
			t.Errorf("sorted by name, descending: %s", got)
		}
		tb.do(chromedp.SendKeys(chromedp.CSS(`#my-contracts-q`), "SL_"))
		tb.until(`document.querySelectorAll('#my-contracts tbody tr').length === 1`)
		if got := names(); got != "SL_Prod" {
			t.Errorf("searching SL_ finds %s", got)
		}

		tb.click(`#my-contracts a.open-contract`)
		tb.visible(`#contract-summary`)
		for field, want := range map[string]string{"name": "SL_Prod", "offer": "Flexible Engine", "id": c.ID} {
			if got := tb.text(`#contract-summary [data-field="` + field + `"]`); got != want {
				t.Errorf("summary %s = %q, want %q", field, got, want)
			}
		}
		if got := tb.text(`#company [data-field="legal_name"]`); got != "ORANGE CLOUD FOR BUSINESS" {
			t.Errorf("company legal name = %q", got)
		}
		if got := tb.text(`#company [data-field="siret"]`); got != "50161528000036" {
			t.Errorf("company SIRET = %q", got)
		}
		for section, want := range map[string]string{"contract": "Manager", "orders": "Visitor", "dashboard": "Visitor", "users": "Manager", "console": "No role"} {
			if got := tb.text(`#rights-table tr[data-section="` + section + `"] td`); got != want {
				t.Errorf("rights: %s = %q, want %q", section, got, want)
			}
		}
		tb.visible(`#referent-badge`)
		all := []string{"contract", "dashboard", "services", "orders", "subscriptions", "invoices", "support", "users"}
		if got := tb.sections(); strings.Join(got, ",") != strings.Join(all, ",") {
			t.Errorf("the referent is offered sections %v, want %v", got, all)
		}

		// Without a console role, the console is not offered.
		tb.click(`#sections a[data-section="dashboard"]`)
		tb.visible(`#no-console-role`)
		if n := tb.count(`#console-sso`); n != 0 {
			t.Errorf("the console button is offered to a user without console role")
		}

		// The page's policy refuses HTML from strings (Trusted Types).
		refused := eval[string](tb, `(() => { try { document.createElement('div').innerHTML = '<b>x</b>'; return 'accepted' } catch (e) { return e.name } })()`)
		if refused != "TypeError" {
			t.Errorf("assigning innerHTML a string was %s, want refused (TypeError)", refused)
		}
		tb.forgetProblems() // that refusal was logged on purpose

		tb.click(`#sign-out`)
		tb.visible(`#signin-form`)
		if got := tb.text(`#flash`); got != "You are signed out." {
			t.Errorf("after signing out the page says %q", got)
		}
		if tok := tb.sessionToken(); tok != "" {
			t.Errorf("token kept after signing out")
		}
		testkit.Expect(t, env.Get("/api/v1/me/contracts", token), http.StatusUnauthorized)
		tb.open("#/contracts/" + c.ID)
		tb.visible(`#signin-form`)
	})

	t.Run("a visitor is offered only what their profiles allow", func(t *testing.T) {
		t.Parallel()
		tb := openTab(t, browser, env.URL)
		tb.open("#/contracts/" + c.ID)
		tb.signIn(visitor, testkit.Password)
		tb.visible(`#contract-summary`)
		if got := tb.text(`#contract-summary [data-field="name"]`); got != "SL_Prod" {
			t.Errorf("summary name = %q", got)
		}
		if got := tb.sections(); strings.Join(got, ",") != "contract,orders" {
			t.Errorf("a visitor of contract and orders is offered sections %v", got)
		}
		if n := tb.count(`#company`); n != 0 {
			t.Errorf("a contract visitor sees the company block")
		}
		if n := tb.count(`#contract-services`); n != 0 {
			t.Errorf("a user without services profile sees the services block")
		}
		if n := tb.count(`#referent-badge`); n != 0 {
			t.Errorf("a non-referent is told they are the referent")
		}
		if got := tb.text(`#rights-table tr[data-section="users"] td`); got != "No access" {
			t.Errorf("rights: users = %q", got)
		}
		// A page the user has no right to, reached by its address, says so.
		tb.open("#/contracts/" + c.ID + "/users")
		if got := tb.text(`#no-access h1`); got != "No access" {
			t.Errorf("users page for a visitor: %q", got)
		}
		if n := tb.count(`#users, #add-user`); n != 0 {
			t.Errorf("the users list is offered to a user without users profile")
		}
		tb.open("#/contracts/" + c.ID + "/users/new")
		tb.visible(`#no-access`)

		// Someone else's contract is not found, and offers nothing.
		tb.open("#/contracts/" + other.ID)
		if got := tb.text(`#contract-not-found h1`); got != "Contract not found" {
			t.Errorf("someone else's contract shows %q", got)
		}
		if n := tb.count(`#sections`); n != 0 {
			t.Errorf("sections offered on a contract the user is not declared on")
		}
	})

	t.Run("an ended session brings back the sign-in page", func(t *testing.T) {
		t.Parallel()
		tb := openTab(t, browser, env.URL)
		tb.open("")
		tb.signIn(c.ReferentLogin, testkit.Password)
		tb.visible(`#home-contracts article`)
		// The session ends elsewhere (signed out from another client).
		testkit.Expect(t, env.Delete("/api/v1/sessions/current", tb.sessionToken()), http.StatusNoContent)
		tb.open("#/contracts/" + c.ID)
		tb.visible(`#signin-form`)
		if got := tb.text(`#flash`); !strings.Contains(got, "session has ended") {
			t.Errorf("flash after the session ended: %q", got)
		}
		// Signing in again leads back to the contract.
		tb.signIn(c.ReferentLogin, testkit.Password)
		tb.visible(`#contract-summary`)
	})

	t.Run("the language switch shows the customer area in French", func(t *testing.T) {
		t.Parallel()
		// The switch changes the user's language (PATCH /me): the user
		// is one no other subtest signs in.
		tb := openTab(t, browser, env.URL)
		tb.open("#/contracts/" + other.ID)
		tb.signIn(other.ReferentLogin, testkit.Password)
		tb.visible(`#contract-summary`)
		if got := tb.text(`#view h1`); got != "Your contract" {
			t.Errorf("title in English = %q", got)
		}
		tb.click(`#lang-switch`)
		tb.until(`document.querySelector('#view h1')?.textContent === 'Votre contrat'`)
		nav := eval[[]string](tb, `[...document.querySelectorAll('#sections a')].map(a => a.textContent)`)
		want := "Contrat,Tableau de bord,Services,Commandes,Abonnements,Factures,Support,Utilisateurs"
		if strings.Join(nav, ",") != want {
			t.Errorf("French navigation = %v, want %s", nav, want)
		}
		if htmlLang := eval[string](tb, `document.documentElement.lang`); htmlLang != "fr" {
			t.Errorf("<html lang> = %q", htmlLang)
		}
		tb.click(`#lang-switch`)
		tb.until(`document.querySelector('#view h1')?.textContent === 'Your contract'`)
	})

	for _, st := range []struct {
		name string
		run  func(*testing.T)
	}{
		{"forgotten password and forgotten login show a captcha and a generic confirmation", f.forgottenCredentials},
		{"a new user sets a password through the access email, whose link then is spent", f.setPasswordFromTheAccessEmail},
		{"my account shows and edits the profile, and refuses a wrong current password", f.myAccount},
		{"a French-speaking user sees the customer area in French", f.frenchUser},
		{"a users manager adds, edits and removes users", f.usersManager},
		{"a console manager sees and adds console users only", f.consoleManager},
		{"a users visitor sees the lists without actions", f.usersVisitor},
		{"the catalog searches, filters and orders; the order becomes a subscription", f.catalogAndOrders},
		{"a services visitor is offered no Order button", f.servicesVisitor},
		{"the incidents link follows the external-account flag", f.support},
		{"the dashboard signs a console user on to the console", f.dashboard},
		{"a console user sets the API password and manages access keys", f.consoleCredentials},
		{"a user without console role is not offered the console credentials", f.consoleCredentialsRefused},
		{"a users manager reads the role history, exports it, and a user's roles as of a date", f.roleHistory},
		{"phones and desktops: every page fits the width, menus and key columns in view", f.phones},
	} {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			st.run(t)
		})
	}
}
