package web_test

// The pages of the customer area against the complete server. Most
// subtests of TestCustomerAreaInABrowser are methods of fixture, which holds
// what they share: the server and its data, the browser, the emails.

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"selfcare/internal/clock"
	"selfcare/internal/config"
	"selfcare/internal/testkit"
)

// fixture is what the subtests share: the server (with a real SMTP server
// to read its emails, a manual clock, and a stand-in for the console), the
// browser, and contracts and users made before chromium is up.
type fixture struct {
	env     *testkit.Env
	browser context.Context
	mail    *testkit.SMTPServer
	clock   *clock.Manual
	console *consoleStub

	c       testkit.Contract // SL_Prod: its referent manages every section
	other   testkit.Contract // Other: its referent's email is an existing identity's
	visitor string           // visitor of SL_Prod's contract and orders sections
	// reader is a visitor of SL_Prod's services, invoices, support and
	// users sections.
	reader string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{
		mail:    testkit.StartSMTP(t),
		clock:   clock.NewManual(time.Now()),
		console: startConsoleStub(t),
	}
	f.env = testkit.New(t, testkit.WithClock(f.clock), testkit.WithSMTP(f.mail), testkit.CheckOpenAPI(),
		testkit.WithConfig(func(c *config.Config) { c.ConsoleURL = f.console.URL }))
	env := f.env
	f.c = env.NewContract("SL_Prod")
	f.visitor = env.DeclareMember(f.c.ID, map[string]string{
		"contract": "visitor", "orders": "visitor", "dashboard": "none", "subscriptions": "none",
		"services": "none", "invoices": "none", "support": "none", "users": "none",
	}).Login
	f.reader = env.DeclareMember(f.c.ID, map[string]string{
		"contract": "visitor", "services": "visitor", "invoices": "visitor", "support": "visitor", "users": "visitor",
	}).Login
	f.other = env.NewContract("Other")
	// The referent's email makes them the referent of a second contract.
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, testkit.ContractBody("Alpha_Dev", f.c.ReferentLogin)), http.StatusCreated)
	return f
}

// tab opens a tab on the test server.
func (f *fixture) tab(t *testing.T) *tab { return openTab(t, f.browser, f.env.URL) }

// api is the test server for a subtest: its helpers fail the subtest, not
// the parent test (which a subtest running in parallel must not stop).
func (f *fixture) api(t *testing.T) *testkit.Env {
	e := *f.env
	e.T = t
	return &e
}

// signedIn opens a tab at fragment, signs login in with the test password
// and waits for sel.
func (f *fixture) signedIn(t *testing.T, fragment, login, sel string) *tab {
	t.Helper()
	tb := f.tab(t)
	tb.open(fragment)
	tb.signIn(login, testkit.Password)
	tb.visible(sel)
	return tb
}

// consoleStub stands for the cloud console: it records the single sign-on
// requests the browser makes and answers a plain page.
type consoleStub struct {
	URL string
	mu  sync.Mutex
	sso []url.Values
}

func startConsoleStub(t *testing.T) *consoleStub {
	t.Helper()
	s := &consoleStub{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/sso" {
			w.WriteHeader(http.StatusNoContent) // favicon
			return
		}
		s.mu.Lock()
		s.sso = append(s.sso, r.URL.Query())
		s.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = fmt.Fprint(w, `<!doctype html><html lang="en"><title>Console</title><h1 id="console">Console</h1></html>`)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL
	return s
}

func (s *consoleStub) requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.sso...)
}

// js writes s as a JavaScript string literal.
func js(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// fill sets the value of the control matching sel, once visible, and
// fires input and change as typing or choosing does.
func (tb *tab) fill(sel, value string) {
	tb.t.Helper()
	tb.visible(sel)
	ok := eval[bool](tb, fmt.Sprintf(`((el, v) => {
  el.value = v;
  el.dispatchEvent(new Event('input', { bubbles: true }));
  el.dispatchEvent(new Event('change', { bubbles: true }));
  return el.value === v;
})(document.querySelector(%s), %s)`, js(sel), js(value)))
	if !ok {
		tb.fail(fmt.Errorf("%s does not take the value %q", sel, value))
	}
}

// flash is the message left for the screen, once shown.
func (tb *tab) flash() string {
	tb.t.Helper()
	return tb.text(`#flash`)
}

// texts returns the text of every node matching sel, now.
func (tb *tab) texts(sel string) []string {
	tb.t.Helper()
	return eval[[]string](tb, fmt.Sprintf(`[...document.querySelectorAll(%s)].map(n => n.textContent.trim())`, js(sel)))
}

// listLoaded waits until the list with that id shows its rows.
func (tb *tab) listLoaded(id string) {
	tb.t.Helper()
	tb.until(fmt.Sprintf(`(() => { const s = document.querySelector('#%s .list-status'); return !!s && s.textContent !== %s })()`, id, js("Loading…")))
}

// captchaShown waits until the captcha image of a form has loaded.
func (tb *tab) captchaShown(prefix string) {
	tb.t.Helper()
	tb.until(fmt.Sprintf(`(() => { const i = document.querySelector('#%s-captcha-image'); return !!i && i.complete && i.naturalWidth > 0 })()`, prefix))
	if src := eval[string](tb, fmt.Sprintf(`document.querySelector('#%s-captcha-image').getAttribute('src')`, prefix)); !strings.HasPrefix(src, "/api/v1/captchas/") {
		tb.t.Errorf("captcha image from %q", src)
	}
}

func (f *fixture) forgottenCredentials(t *testing.T) {
	tb := f.tab(t)
	tb.open("")
	tb.click(`#forgot-password-link`)
	tb.captchaShown("forgot-password")
	tb.fill(`#forgot-password-login`, f.c.ReferentLogin)
	tb.fill(`#forgot-password-captcha_answer`, "ABC123")
	tb.click(`#forgot-password-submit`)
	tb.visible(`#request-done`)
	generic := tb.text(`#request-done p`)
	if !strings.HasPrefix(generic, "If this login exists, an email with a link") {
		t.Errorf("password request confirmation: %q", generic)
	}
	email := f.c.ReferentLogin + "@example.com"
	f.mail.NextMatching(t, email, func(m testkit.Mail) bool { return m.Subject == "Your password reset request" })

	// An unknown login gets the same answer.
	tb.click(`#request-done a`)
	tb.click(`#forgot-password-link`)
	tb.captchaShown("forgot-password")
	tb.fill(`#forgot-password-login`, "nobody.known.here")
	tb.click(`#forgot-password-submit`)
	if got := tb.text(`#request-done p`); got != generic {
		t.Errorf("an unknown login is told %q, a known one %q", got, generic)
	}

	tb.click(`#request-done a`)
	tb.click(`#forgot-login-link`)
	tb.captchaShown("forgot-login")
	if got := tb.text(`#forgot-login-form h1`); got != "You lost your login" {
		t.Errorf("forgotten login title: %q", got)
	}
	tb.fill(`#forgot-login-email`, email)
	tb.click(`#forgot-login-submit`)
	tb.visible(`#request-done`)
	if got := tb.text(`#request-done p`); !strings.HasPrefix(got, "Your request has been taken into account. If this address is known") {
		t.Errorf("login reminder confirmation: %q", got)
	}
	m := f.mail.NextMatching(t, email, func(m testkit.Mail) bool {
		return strings.HasPrefix(m.Subject, "Your Flexible Engine customer area login")
	})
	if !strings.Contains(m.Text, f.c.ReferentLogin) {
		t.Errorf("the login reminder does not tell the login:\n%s", m.Text)
	}
}

var linkRE = regexp.MustCompile(`\S*\?token=[A-Za-z0-9_-]+`)

// accessLink returns the set-password link of the access email of a new
// user, as a URL of the test server.
func (f *fixture) accessLink(t *testing.T, email string) string {
	t.Helper()
	m := f.mail.NextMatching(t, email, func(m testkit.Mail) bool { return strings.HasPrefix(m.Subject, "Welcome") })
	links := linkRE.FindAllString(m.Text, -1)
	if len(links) != 1 {
		t.Fatalf("the access email has %d set-password links, want 1:\n%s", len(links), m.Text)
	}
	u, err := url.Parse(links[0])
	if err != nil || u.Path != "/" {
		t.Fatalf("the access email's link %q does not open the web UI (%v)", links[0], err)
	}
	// The test server's configuration has no public URL: the link is the
	// path and query to open on the server.
	return f.env.URL + u.RequestURI()
}

func (f *fixture) setPasswordFromTheAccessEmail(t *testing.T) {
	login := testkit.Unique("new.user.")
	f.api(t).AddUser(f.c, testkit.UserBody(login, map[string]string{"orders": "visitor"}))
	link := f.accessLink(t, login+"@example.com")

	tb := f.tab(t)
	tb.do(chromedp.Navigate(link))
	tb.visible(`#set-password-form`)
	if href := eval[string](tb, `location.href`); strings.Contains(href, "token") {
		t.Errorf("the token stays in the address bar: %s", href)
	}
	// The rules tick as the password is typed.
	const password = "Mdp-2026.Nouveau"
	tb.do(chromedp.SendKeys(chromedp.CSS(`#set-password-new_password`), password[:7]))
	if n := tb.count(`#set-password-new_password-rules li.ok`); n != 4 {
		t.Errorf("%d of 6 password rules ticked for %q, want 4 (not the length; not the login, unknown here)", n, password[:7])
	}
	tb.do(chromedp.SendKeys(chromedp.CSS(`#set-password-new_password`), password[7:]))
	if n := tb.count(`#set-password-new_password-rules li.ok`); n != 5 {
		t.Errorf("%d of 6 password rules ticked for a strong password, want 5", n)
	}
	if got := eval[string](tb, `document.querySelector('#set-password-new_password-rules li[data-rule="login"]').className`); got != "unchecked" {
		t.Errorf("the rule about the login, which the page does not know, is %q", got)
	}
	if got := tb.text(`#set-password-new_password-rules .strength`); got != "strong security" {
		t.Errorf("strength shown = %q", got)
	}
	tb.fill(`#set-password-confirm_password`, password)
	tb.click(`#set-password-submit`)
	tb.visible(`#password-set`)
	if got := tb.text(`#password-set p`); !strings.Contains(got, "Your password is set (strong security)") {
		t.Errorf("after setting the password: %q", got)
	}
	tb.click(`#password-set a`)
	tb.signIn(login, password)
	tb.visible(`#home-contracts article`)
	if got := tb.text(`#account-name`); got != "Julie DUPONT" {
		t.Errorf("signed in as %q", got)
	}

	// The link serves once.
	tb.do(chromedp.Navigate(link))
	tb.fill(`#set-password-new_password`, "Encore-Un.Mdp27")
	tb.fill(`#set-password-confirm_password`, "Encore-Un.Mdp27")
	tb.click(`#set-password-submit`)
	if got := tb.text(`#set-password-error`); got != "This link has expired or has already been used. Forgot your password?" {
		t.Errorf("reusing the link: %q", got)
	}
	if n := tb.count(`#set-password-form input:not(:disabled), #set-password-submit:not(:disabled)`); n != 0 {
		t.Errorf("a spent link leaves %d controls of the form usable", n)
	}
	testkit.Expect(t, f.api(t).Post("/api/v1/sessions", "", map[string]string{"login": login, "password": password}), http.StatusCreated)
}

func (f *fixture) myAccount(t *testing.T) {
	m := f.api(t).DeclareMember(f.c.ID, map[string]string{"contract": "visitor"})
	tb := f.signedIn(t, "#/account", m.Login, `#my-profile`)
	shown := func(field string) string { return tb.text(`#my-profile [data-field="` + field + `"]`) }
	for field, want := range map[string]string{
		"login": m.Login, "email": m.Login + "@example.com", "last_name": "Martin", "first_name": "Louis",
		"civility": "Mr", "phone": "+33 1 23 45 67 89", "mobile": "—", "language": "English",
	} {
		if got := shown(field); got != want {
			t.Errorf("my profile shows %s = %q, want %q", field, got, want)
		}
	}

	// Edit the profile.
	tb.click(`#edit-profile`)
	tb.click(`#profile-civility input[value="mrs"]`)
	tb.fill(`#profile-first_name`, "Louise")
	tb.fill(`#profile-mobile`, "06 12 34 56 78")
	tb.click(`#profile-save`)
	if got := tb.flash(); got != "Your information is saved." {
		t.Errorf("after saving the profile: %q", got)
	}
	if got := shown("first_name"); got != "Louise" {
		t.Errorf("first name shown after the edit: %q", got)
	}
	if got := tb.text(`#account-name`); got != "Louise MARTIN" {
		t.Errorf("the header names %q after the edit", got)
	}
	var me map[string]any
	testkit.Expect(t, f.api(t).Get("/api/v1/me", m.Token), http.StatusOK).JSON(t, &me)
	if me["first_name"] != "Louise" || me["civility"] != "mrs" || me["mobile"] != "06 12 34 56 78" || me["phone"] != "+33 1 23 45 67 89" {
		t.Errorf("GET /me after the edit: %v", me)
	}

	// Both numbers removed: refused, next to the landline.
	tb.click(`#edit-profile`)
	tb.fill(`#profile-phone`, "")
	tb.fill(`#profile-mobile`, "")
	tb.click(`#profile-save`)
	if got := tb.text(`#profile-form .field-error`); got != "Enter a landline or a mobile number." {
		t.Errorf("with no phone number: %q", got)
	}
	if got := eval[string](tb, `document.activeElement.id`); got != "profile-phone" {
		t.Errorf("the focus is on %q, not the landline", got)
	}
	// The server refuses it too, with the same field error.
	if codes := testkit.Expect(t, f.api(t).Patch("/api/v1/me", m.Token, map[string]string{"phone": "", "mobile": ""}), http.StatusBadRequest).FieldCodes(t); codes["phone"] != "phone_or_mobile_required" {
		t.Errorf("PATCH /me without numbers: %v", codes)
	}
	tb.click(`#profile-form button[type="button"]`) // cancel

	// A wrong current password.
	tb.click(`#change-password`)
	tb.fill(`#password-current_password`, "Not-my.Password1")
	tb.fill(`#password-new_password`, "Brand-New.Pass26")
	tb.fill(`#password-confirm_password`, "Brand-New.Pass26")
	tb.click(`#password-save`)
	if got := tb.text(`#password-form .field-error`); got != "Wrong current password." {
		t.Errorf("with a wrong current password: %q", got)
	}
	if tok := tb.sessionToken(); tok == "" {
		t.Errorf("the wrong current password ended the session")
	}
	// The right one changes it.
	tb.fill(`#password-current_password`, testkit.Password)
	tb.click(`#password-save`)
	if got := tb.text(`#my-profile .alert-ok`); got != "Your password is changed (strong security)." {
		t.Errorf("after changing the password: %q", got)
	}
	f.api(t).SignIn(m.Login, "Brand-New.Pass26")
}

func (f *fixture) frenchUser(t *testing.T) {
	login := testkit.Unique("francoise.")
	body := testkit.UserBody(login, map[string]string{"services": "visitor", "orders": "visitor"})
	body["language"] = "fr"
	f.api(t).AddUser(f.c, body)
	f.api(t).SignInNew(login)
	tb := f.tab(t)
	tb.open("")
	if got := tb.text(`#signin-form h1`); got != "Sign in" {
		t.Errorf("before signing in, the page is in English: %q", got)
	}
	tb.signIn(login, testkit.Password)
	tb.visible(`#home-contracts article`)
	if got := tb.text(`#view h1`); got != "Bonjour Julie DUPONT" {
		t.Errorf("home title %q", got)
	}
	if got := tb.text(`#sign-out`); got != "Déconnexion" {
		t.Errorf("sign-out button %q", got)
	}
	if got := eval[string](tb, `document.documentElement.lang`); got != "fr" {
		t.Errorf("<html lang> = %q", got)
	}
	tb.click(`#home-contracts article a`)
	tb.visible(`#contract-summary`)
	if got := tb.text(`#view h1`); got != "Votre contrat" {
		t.Errorf("contract title %q", got)
	}
	// The server's texts too: the catalog comes in French.
	tb.click(`#sections a[data-section="services"]`)
	card := `#catalog-items article[data-service="AD135"]`
	if got := tb.text(card + ` h3`); got != "Réservation d'un gabarit Elastic Cloud Server" {
		t.Errorf("AD135 is named %q", got)
	}
	if got := tb.text(card + ` .category`); got != "Calcul" {
		t.Errorf("AD135's category is %q", got)
	}
	if got := tb.text(card + ` .price`); got != "à partir de 4,97\u00a0€/mois" {
		t.Errorf("AD135 is announced %q", got)
	}
	// Order names follow the UI's language too.
	testkit.Expect(t, f.api(t).Post("/api/v1/contracts/"+f.c.ID+"/orders", f.c.ReferentToken, map[string]any{
		"service_code": "AD135", "parameters": map[string]any{"region": "eu-west-0", "flavor": "c2.large", "duration_months": 24, "upfront": true},
	}), http.StatusCreated)
	tb.open("#/contracts/" + f.c.ID + "/orders")
	tb.visible(`#view td[data-col="name"]`)
	if got := tb.texts(`#view td[data-col="name"]`); !slices.Contains(got, "Réservation c2.large 2 ans avec paiement initial") {
		t.Errorf("order names shown to a French user: %q", got)
	}
}

// person is the first step of the add-user forms.
type person struct {
	civility, lastName, firstName, login, email, mobile string
}

// fillPerson fills the person step of the form whose fields are prefixed
// by prefix, and goes to the next step.
func (tb *tab) fillPerson(prefix string, p person) {
	tb.t.Helper()
	tb.click(`#` + prefix + `-civility input[value="` + p.civility + `"]`)
	tb.fill(`#`+prefix+`-last_name`, p.lastName)
	tb.fill(`#`+prefix+`-first_name`, p.firstName)
	tb.fill(`#`+prefix+`-login`, p.login)
	tb.fill(`#`+prefix+`-email`, p.email)
	tb.fill(`#`+prefix+`-mobile`, p.mobile)
	tb.click(`#` + prefix + `-form-next`)
}

// profile sets a section's profile in a roles form.
func (tb *tab) profile(form, section, profile string) {
	tb.t.Helper()
	tb.fill(`#`+form+` select[name="profiles.`+section+`"]`, profile)
}

// user reads a user of SL_Prod through the API with the token of a users
// manager.
func (f *fixture) user(t *testing.T, token, login string) map[string]any {
	t.Helper()
	return testkit.Expect(t, f.api(t).Get("/api/v1/contracts/"+f.c.ID+"/users/"+login, token), http.StatusOK).Map(t)
}

func (f *fixture) usersManager(t *testing.T) {
	cid := f.c.ID
	token := f.api(t).SignIn(f.c.ReferentLogin, testkit.Password) // for the API's view
	tb := f.signedIn(t, "#/contracts/"+cid+"/users", f.c.ReferentLogin, `#users tbody tr`)
	tb.listLoaded("users")
	referentRow := `#users tr[data-key="` + f.c.ReferentLogin + `"]`
	if got := tb.text(referentRow + ` td[data-col="login"]`); got != f.c.ReferentLogin+" (referent)" {
		t.Errorf("the referent's row shows %q", got)
	}
	if n := tb.count(referentRow + ` .remove-user`); n != 0 {
		t.Errorf("the referent can be removed")
	}
	if n := tb.count(`#users .remove-user`); n == 0 {
		t.Errorf("no user of the list can be removed")
	}
	// A user's profile opens in a dialog, which Escape closes; the
	// actions are icons named for screen readers.
	tb.click(referentRow + ` button.view-user`)
	if got := tb.text(`#user-profile [data-field="login"]`); got != f.c.ReferentLogin {
		t.Errorf("the profile dialog shows the login %q", got)
	}
	if n := tb.count(`#user-profile table.roles tbody tr`); n < 8 {
		t.Errorf("the profile dialog shows %d sections' roles", n)
	}
	tb.do(chromedp.KeyEvent("\x1b"))
	tb.until(`!document.querySelector('#user-profile')`)
	if got := tb.text(referentRow + ` a.edit-roles .visually-hidden`); got != "Change the roles of "+f.c.ReferentLogin {
		t.Errorf("the edit icon is named %q", got)
	}
	if n := tb.count(referentRow + ` a.edit-roles svg.icon path`); n == 0 {
		t.Errorf("the edit action shows no icon")
	}

	// Add a user in three steps.
	login := testkit.Unique("claire.durand.")
	tb.click(`#add-user`)
	tb.visible(`#add-user-form`)
	tb.click(`#add-user-form-next`) // nothing typed: step 1 refuses
	if n := tb.count(`#add-user-form .field-error`); n < 4 {
		t.Errorf("an empty step 1 shows %d field errors", n)
	}
	// First with a login another identity holds: the server refuses it,
	// and the form brings back the first step, the login in error.
	tb.fillPerson("add-user", person{"mrs", "Durand", "Claire", f.visitor, login + "@example.com", "06 11 22 33 44"})
	tb.profile("add-user-form", "orders", "visitor")
	tb.profile("add-user-form", "services", "manager")
	tb.click(`#add-user-console input[value="guest"]`)
	tb.click(`#add-user-form-next`)
	tb.click(`#add-user-form-finish`)
	if got := tb.text(`#add-user-login ~ .field-error`); got != "Already taken." {
		t.Errorf("a login taken: %q", got)
	}
	tb.fill(`#add-user-login`, login)
	tb.click(`#add-user-form-next`)
	tb.click(`#add-user-form-next`)
	summary := map[string]string{}
	for _, row := range eval[[][]string](tb, `[...document.querySelectorAll('#add-user-summary-roles tbody tr')].map(tr => [tr.dataset.section, tr.querySelector('td').textContent])`) {
		summary[row[0]] = row[1]
	}
	if summary["orders"] != "Visitor" || summary["services"] != "Manager" || summary["contract"] != "Manager" || summary["console"] != "guest" {
		t.Errorf("the summary shows the roles %v", summary)
	}
	tb.click(`#add-user-form-finish`)
	if got := tb.flash(); got != "User "+login+" added: they will receive an email to access the customer area." {
		t.Errorf("after adding: %q", got)
	}
	tb.visible(`#users tr[data-key="` + login + `"]`)
	u := f.user(t, token, login)
	profiles := u["profiles"].(map[string]any)
	if profiles["orders"] != "visitor" || profiles["services"] != "manager" || profiles["invoices"] != "none" ||
		fmt.Sprint(u["console"]) != "[guest]" || u["mobile"] != "06 11 22 33 44" || u["civility"] != "mrs" {
		t.Errorf("the user added: %v", u)
	}

	// The email of an existing identity: that identity is added.
	tb.click(`#add-user`)
	tb.fillPerson("add-user", person{"mr", "Autre", "Paul", testkit.Unique("typed.login."), f.other.ReferentLogin + "@example.com", "06 99 88 77 66"})
	tb.click(`#add-user-form-next`)
	tb.click(`#add-user-form-finish`)
	want := "The email " + f.other.ReferentLogin + "@example.com already belonged to the user " + f.other.ReferentLogin + ": that login was used."
	if got := tb.flash(); got != want {
		t.Errorf("adding an existing identity: %q, want %q", got, want)
	}
	tb.visible(`#users tr[data-key="` + f.other.ReferentLogin + `"]`)

	// Change roles.
	row := `#users tr[data-key="` + login + `"]`
	tb.click(row + ` a.edit-roles`)
	tb.visible(`#roles-form`)
	tb.profile("roles-form", "invoices", "manager")
	tb.click(`#roles-form input[name="console"][value="power_user"]`)
	tb.click(`#roles-save`)
	if got := tb.flash(); got != "The roles of "+login+" are saved." {
		t.Errorf("after saving roles: %q", got)
	}
	if u := f.user(t, token, login); u["profiles"].(map[string]any)["invoices"] != "manager" || fmt.Sprint(u["console"]) != "[guest power_user]" {
		t.Errorf("after the roles change: %v", u)
	}

	// Someone else changes them meanwhile: the save is refused, and
	// reloading shows their change.
	tb.listLoaded("users")
	tb.click(row + ` a.edit-roles`)
	tb.visible(`#roles-form`)
	testkit.Expect(t, f.api(t).Put("/api/v1/contracts/"+cid+"/users/"+login+"/roles", token,
		map[string]any{"profiles": map[string]string{"support": "visitor"}}), http.StatusOK)
	tb.profile("roles-form", "subscriptions", "visitor")
	tb.click(`#roles-save`)
	if got := tb.text(`#roles-error`); got != "Someone changed this user’s roles in the meantime: reload the page to see them, then try again. Reload" {
		t.Errorf("a stale save: %q", got)
	}
	tb.click(`#roles-error a`)
	tb.until(`document.querySelector('#roles-form select[name="profiles.support"]')?.value === 'visitor'`)
	if got := eval[string](tb, `document.querySelector('#roles-form select[name="profiles.subscriptions"]').value`); got != "none" {
		t.Errorf("after reloading, subscriptions = %q", got)
	}
	if u := f.user(t, token, login); u["profiles"].(map[string]any)["subscriptions"] != "none" {
		t.Errorf("the stale save changed the roles: %v", u)
	}

	// Remove, after confirming.
	tb.click(`#roles-form a.button`) // cancel
	tb.listLoaded("users")
	tb.click(row + ` button.remove-user`)
	tb.visible(`dialog.confirm`)
	if got := tb.text(`#confirm-question`); !strings.HasPrefix(got, "Remove Claire DURAND ("+login+") from contract "+cid+"?") {
		t.Errorf("the confirmation asks %q", got)
	}
	tb.click(`#confirm-no`)
	if n := tb.count(`dialog.confirm`); n != 0 {
		t.Errorf("the dialog stays after cancelling")
	}
	tb.click(row + ` button.remove-user`)
	tb.click(`#confirm-yes`)
	if got := tb.flash(); got != "User "+login+" removed from the contract." {
		t.Errorf("after removing: %q", got)
	}
	tb.listLoaded("users")
	if n := tb.count(row); n != 0 {
		t.Errorf("the removed user is still listed")
	}
	testkit.Expect(t, f.api(t).Get("/api/v1/contracts/"+cid+"/users/"+login, token), http.StatusNotFound)
}

func (f *fixture) consoleManager(t *testing.T) {
	cid := f.c.ID
	token := f.api(t).SignIn(f.c.ReferentLogin, testkit.Password) // for the API's view
	m := f.api(t).DeclareMember(cid, map[string]string{"contract": "visitor", "users": "console_manager"})
	tb := f.signedIn(t, "#/contracts/"+cid, m.Login, `#contract-summary`)
	tb.click(`#sections a[data-section="users"]`)
	tb.visible(`#console-users`)
	if tabs := eval[[]string](tb, `[...document.querySelectorAll('nav.tabs a')].map(a => a.dataset.tab)`); strings.Join(tabs, ",") != "console-users" {
		t.Errorf("a console manager is offered the tabs %v", tabs)
	}
	login := testkit.Unique("console.user.")
	tb.click(`#add-console-user`)
	tb.fillPerson("add-console-user", person{"mr", "Console", "Carl", login, login + "@example.com", "06 10 20 30 40"})
	tb.click(`#add-console-user-form-next`) // no role: refused
	if got := tb.text(`#add-console-user-form .field-error`); got != "Choose at least one console role." {
		t.Errorf("without a console role: %q", got)
	}
	tb.click(`#add-console-user-console input[value="power_user"]`)
	tb.click(`#add-console-user-form-next`)
	tb.click(`#add-console-user-form-finish`)
	if got := tb.flash(); !strings.HasPrefix(got, "User "+login+" added") {
		t.Errorf("after adding a console user: %q", got)
	}
	if got := tb.text(`#console-users tr[data-key="` + login + `"] td[data-col="console"]`); got != "power_user" {
		t.Errorf("the console user's roles: %q", got)
	}
	if u := f.user(t, token, login); fmt.Sprint(u["console"]) != "[power_user]" || u["profiles"].(map[string]any)["users"] != "none" {
		t.Errorf("the console user added: %v", u)
	}
	// Their console roles change.
	tb.click(`#console-users tr[data-key="` + login + `"] a.edit-console-roles`)
	tb.click(`#console-roles-form input[name="console"][value="guest"]`)
	tb.click(`#console-roles-save`)
	if got := tb.flash(); got != "The roles of "+login+" are saved." {
		t.Errorf("after changing console roles: %q", got)
	}
	if got := tb.text(`#console-users tr[data-key="` + login + `"] td[data-col="console"]`); got != "guest, power_user" {
		t.Errorf("the console user's roles after the change: %q", got)
	}
	// The customer-area users are not theirs to see.
	tb.open("#/contracts/" + cid + "/users")
	tb.visible(`#no-access`)
}

func (f *fixture) usersVisitor(t *testing.T) {
	tb := f.signedIn(t, "#/contracts/"+f.c.ID+"/users", f.reader, `#users tbody tr`)
	tb.listLoaded("users")
	if n := tb.count(`#add-user, #users .edit-roles, #users .remove-user`); n != 0 {
		t.Errorf("a users visitor is offered %d actions on users", n)
	}
	if n := tb.count(`#users tr[data-key="` + f.c.ReferentLogin + `"]`); n != 1 {
		t.Errorf("the referent is not listed")
	}
	tb.click(`nav.tabs a[data-tab="console-users"]`)
	tb.visible(`#console-users`)
	tb.listLoaded("console-users")
	if n := tb.count(`#add-console-user, #console-users .edit-console-roles`); n != 0 {
		t.Errorf("a users visitor is offered %d actions on console users", n)
	}
}

// serviceCodes lists the services the catalog shows.
func (tb *tab) serviceCodes() string {
	tb.t.Helper()
	return strings.Join(eval[[]string](tb, `[...document.querySelectorAll('#catalog-items article')].map(a => a.dataset.service)`), ",")
}

func (f *fixture) catalogAndOrders(t *testing.T) {
	cid := f.c.ID
	tb := f.signedIn(t, "#/contracts/"+cid+"/services", f.c.ReferentLogin, `#catalog-items article`)
	all := tb.serviceCodes()
	if strings.Count(all, ",") < 5 || !strings.Contains(all, "AD135") {
		t.Errorf("the catalog shows %s", all)
	}
	if got := tb.text(`#catalog-items article[data-service="AD135"] .price`); got != "from €4.97/month" {
		t.Errorf("AD135 is announced %q", got)
	}
	tb.do(chromedp.SendKeys(chromedp.CSS(`#catalog-q`), "expert pack"))
	tb.until(`[...document.querySelectorAll('#catalog-items article')].map(a => a.dataset.service).join() === 'PS104,PS108'`)
	tb.fill(`#catalog-q`, "")
	tb.until(fmt.Sprintf(`[...document.querySelectorAll('#catalog-items article')].map(a => a.dataset.service).join() === %s`, js(all)))
	if got := eval[string](tb, `document.querySelector('#catalog-category option[value="compute"]').textContent`); got != "Compute" {
		t.Errorf("the compute category is labelled %q", got)
	}
	tb.fill(`#catalog-category`, "compute")
	tb.until(`[...document.querySelectorAll('#catalog-items article')].map(a => a.dataset.service).join() === 'AD135'`)

	// Order a reservation.
	tb.click(`#catalog-items article[data-service="AD135"] a.order`)
	tb.visible(`#order-form`)
	tb.fill(`#order-form [data-param="region"]`, "eu-west-0")
	tb.fill(`#order-form [data-param="flavor"]`, "c2.2xlarge")
	tb.fill(`#order-form [data-param="duration_months"]`, "12")
	tb.fill(`#order-form [data-param="upfront"]`, "false")
	for field, want := range map[string]string{
		"subscription_name": "Reservation c2.2xlarge 1 year without upfront",
		"monthly_price":     "€240.60/month",
		"initial_payment":   "€0.00",
		"region":            "France (Paris)",
	} {
		if got := tb.text(`#order-summary [data-field="` + field + `"]`); got != want {
			t.Errorf("order summary %s = %q, want %q", field, got, want)
		}
	}
	tb.click(`#order-submit`)
	tb.visible(`#order-placed`)
	ref := tb.text(`#order-placed [data-field="ref"]`)
	if !regexp.MustCompile(`^[A-Z0-9]+-\d{4}-\d{3}$`).MatchString(ref) {
		t.Errorf("order reference %q", ref)
	}
	if got := tb.text(`#order-placed [data-field="price"]`); got != "€240.60/month" {
		t.Errorf("the confirmation shows the price %q", got)
	}
	if got := tb.text(`#order-placed p[role="status"]`); !strings.Contains(got, ref) || !strings.Contains(got, "In progress") {
		t.Errorf("the confirmation says %q", got)
	}

	// It is listed among the orders, in progress.
	tb.click(`#order-placed a.button.primary`)
	row := `#orders tr[data-key="` + ref + `"]`
	tb.visible(row)
	for col, want := range map[string]string{"name": "Reservation c2.2xlarge 1 year without upfront", "price": "€240.60/month", "status": "In progress", "placed_by": f.c.ReferentLogin} {
		if got := tb.text(row + ` td[data-col="` + col + `"]`); got != want {
			t.Errorf("orders list %s = %q, want %q", col, got, want)
		}
	}
	tb.click(row + ` button.expand`)
	if got := tb.text(`#orders tr.detail`); !strings.Contains(got, "c2.2xlarge") || !strings.Contains(got, "12 months") || !strings.Contains(got, "Without upfront payment") {
		t.Errorf("the order's detail: %q", got)
	}

	// The back office completes it: it becomes a subscription.
	testkit.Expect(t, f.api(t).Post("/api/v1/admin/orders/"+ref+"/complete", testkit.AdminToken, nil), http.StatusOK)
	tb.open("#/contracts/" + cid + "/subscriptions")
	tb.listLoaded("subscriptions")
	sub := `#subscriptions tbody tr:not(.detail)`
	if got := tb.text(sub + ` td[data-col="name"]`); got != "Reservation c2.2xlarge 1 year without upfront" {
		t.Errorf("the subscription is %q", got)
	}
	if got := tb.text(sub + ` td[data-col="status"]`); got != "Subscribed" {
		t.Errorf("the subscription's status: %q", got)
	}
	if got := tb.text(sub + ` td[data-col="monthly_price"]`); got != "€240.60/month" {
		t.Errorf("the subscription's price: %q", got)
	}
	tb.click(sub + ` button.expand`)
	if got := tb.text(`#subscriptions tr.detail a`); got != ref {
		t.Errorf("the subscription links to the order %q", got)
	}
	tb.fill(`#subscriptions-status`, "in_progress")
	tb.until(`document.querySelector('#subscriptions .list-status').textContent.startsWith('No subscription.')`)

	tb.open("#/contracts/" + cid + "/orders")
	tb.visible(row)
	tb.until(fmt.Sprintf(`document.querySelector('%s td[data-col="status"]').textContent === 'Completed'`, row))

	// My account lists them too, with their contract.
	tb.click(`#account-menu summary`)
	tb.click(`#account-menu a[href="#/account/orders"]`)
	mine := `#my-orders tr[data-key="` + ref + `"]`
	if got := tb.text(mine + ` td[data-col="contract_id"]`); got != "SL_Prod" {
		t.Errorf("my orders show the contract %q", got)
	}
	tb.click(`nav.tabs a[href="#/account/subscriptions"]`)
	tb.listLoaded("my-subscriptions")
	if got := tb.texts(`#my-subscriptions td[data-col="name"]`); !slices.Contains(got, "Reservation c2.2xlarge 1 year without upfront") {
		t.Errorf("my subscriptions: %v", got)
	}
}

func (f *fixture) servicesVisitor(t *testing.T) {
	cid := f.c.ID
	tb := f.signedIn(t, "#/contracts/"+cid+"/services", f.reader, `#catalog-items article`)
	if n := tb.count(`#catalog-items a.order`); n != 0 {
		t.Errorf("a services visitor is offered %d Order buttons", n)
	}
	tb.click(`#catalog-items article[data-service="AD135"] a.more`)
	tb.visible(`#service-detail`)
	if n := tb.count(`#order-service`); n != 0 {
		t.Errorf("the service detail offers a services visitor to order")
	}
	tb.open("#/contracts/" + cid + "/services/AD135/order")
	tb.visible(`#no-access`)
}

func (f *fixture) support(t *testing.T) {
	tb := f.signedIn(t, "#/contracts/"+f.c.ID+"/support", f.reader, `#support-contact`)
	if got := tb.text(`#support-contact [data-field="email"]`); got != "support@example.com" {
		t.Errorf("support contact email %q", got)
	}
	if n := tb.count(`#support-links`); n != 0 {
		t.Errorf("links shown without an external account")
	}
	testkit.Expect(t, f.api(t).Put("/api/v1/admin/contracts/"+f.c.ID+"/users/"+f.reader+"/external-accounts", testkit.AdminToken,
		map[string]bool{"incidents": true, "change_requests": false}), http.StatusOK)
	tb.do(chromedp.Reload())
	link := `#support-links a[data-link="open_incident"]`
	if got := tb.text(link); got != "Open an incident ticket" {
		t.Errorf("the incidents link says %q", got)
	}
	if href := eval[string](tb, `document.querySelector('`+link+`').href`); href != "https://espaceclient.orange-business.com/incidents" {
		t.Errorf("the incidents link leads to %q", href)
	}
	if got := tb.texts(`#support-links a`); len(got) != 1 {
		t.Errorf("without a change-requests account, the links are %v", got)
	}

	// With a change-requests account, "manage your services" appears on
	// the support page and in the catalog.
	testkit.Expect(t, f.api(t).Put("/api/v1/admin/contracts/"+f.c.ID+"/users/"+f.reader+"/external-accounts", testkit.AdminToken,
		map[string]bool{"incidents": true, "change_requests": true}), http.StatusOK)
	tb.do(chromedp.Reload())
	if got := tb.text(`#support-links a[data-link="manage_services"]`); got != "Manage your services" {
		t.Errorf("the manage-your-services link says %q", got)
	}
	tb.click(`#sections a[data-section="services"]`)
	if got := tb.text(`#manage-services`); got != "Manage your services" {
		t.Errorf("the catalog's manage-your-services link says %q", got)
	}
}

func (f *fixture) dashboard(t *testing.T) {
	cid := f.c.ID
	m := f.api(t).DeclareMember(cid, map[string]string{"contract": "visitor", "dashboard": "visitor"})
	f.api(t).GrantConsoleRoles(cid, m.Login, "guest")
	tb := f.signedIn(t, "#/contracts/"+cid+"/dashboard", m.Login, `#console-sso`)
	tb.click(`#console-sso`)
	tb.visible(`#console`)
	if href := eval[string](tb, `location.href`); !strings.HasPrefix(href, f.console.URL+"/sso?") {
		t.Errorf("the console button led to %s", href)
	}
	reqs := f.console.requests()
	if len(reqs) != 1 || reqs[0].Get("assertion") == "" || len(reqs[0].Get("domain_id")) != 32 {
		t.Errorf("the console was asked %v", reqs)
	}
}

func (f *fixture) invoices(t *testing.T) {
	// A visitor sees the invoice-reception contact only.
	tb := f.signedIn(t, "#/contracts/"+f.c.ID+"/invoices", f.reader, `#invoice-contact`)
	if got := tb.text(`#invoice-contact [data-field="email"]`); got != "invoices@example.com" {
		t.Errorf("invoice contact email %q", got)
	}
	if n := tb.count(`#last-invoice, #invoice-history, #usage-reports`); n != 0 {
		t.Errorf("a visitor sees %d invoice blocks", n)
	}

	// A contract whose reservation starts next month.
	env := f.api(t)
	c := env.NewContract("Invoiced")
	placed := testkit.Expect(t, env.Post("/api/v1/contracts/"+c.ID+"/orders", c.ReferentToken, map[string]any{
		"service_code": "AD135",
		"parameters":   map[string]any{"region": "eu-west-0", "flavor": "c2.2xlarge", "duration_months": 12, "upfront": false},
	}), http.StatusCreated).Map(t)
	testkit.Expect(t, env.Post("/api/v1/admin/orders/"+placed["ref"].(string)+"/complete", testkit.AdminToken, nil), http.StatusOK)
	// Once it has started, usage is reported for the month; when the
	// month is over, the back office bills it.
	now := f.clock.Now()
	next := time.Date(now.Year(), now.Month()+1, 1, 0, 0, 0, 0, time.UTC)
	period := next.Format("2006-01")
	f.clock.Set(next.Add(9 * time.Hour))
	testkit.Expect(t, env.Post("/api/v1/admin/contracts/"+c.ID+"/usage", testkit.AdminToken, map[string]any{"period": period, "lines": []any{
		map[string]any{"item": "Object Storage GB-month", "quantity": "1200.5", "unit_price": map[string]any{"amount": "0.0125", "currency": "EUR"}},
	}}), http.StatusCreated)
	f.clock.Set(next.AddDate(0, 1, 1).Add(9 * time.Hour))
	if run := testkit.Expect(t, env.Post("/api/v1/admin/billing-runs", testkit.AdminToken, map[string]any{"period": period}), http.StatusCreated).Map(t); run["invoices_issued"] == float64(0) {
		t.Fatalf("the billing run issued nothing: %v", run)
	}

	id := "INV-" + c.ID + "-" + period
	tb = f.signedIn(t, "#/contracts/"+c.ID+"/invoices", c.ReferentLogin, `#invoice-history`)
	if got := tb.text(`#last-invoice .big`); got != "€255.61" {
		t.Errorf("last invoice amount %q", got)
	}
	row := `#invoice-history tr[data-invoice="` + id + `"]`
	if got := tb.text(row); !strings.Contains(got, "€255.61") {
		t.Errorf("the invoice's row: %q", got)
	}
	tb.click(row + ` button.invoice-detail`)
	tb.visible(`#invoice-history tr.detail table`)
	lines := eval[[][]string](tb, `[...document.querySelectorAll('#invoice-history tr.detail tbody tr')].map(tr => [...tr.cells].map(td => td.textContent))`)
	want := [][]string{
		{"Reservation c2.2xlarge 1 year without upfront: monthly price", "1", "€240.60", "€240.60"},
		{"Object Storage GB-month", "1200.5", "€0.0125", "€15.01"},
	}
	if fmt.Sprint(lines) != fmt.Sprint(want) {
		t.Errorf("invoice lines %v, want %v", lines, want)
	}
	tb.visible(`#usage-reports tr[data-period="` + period + `"]`)
	if got := tb.text(`#usage-reports tr[data-period="` + period + `"]`); !strings.Contains(got, "Invoiced: "+id) || !strings.Contains(got, "Usage report (€15.01)") {
		t.Errorf("the usage report of %s: %q", period, got)
	}
	if got := tb.text(row + ` td[data-col="ref"]`); got != id {
		t.Errorf("the invoice's number cell shows %q", got)
	}

	// The usage report of the month is a page of its own.
	tb.click(`#usage-reports tr[data-period="` + period + `"] a.usage-report`)
	if got := tb.text(`#usage-document-total`); got != "€15.01" {
		t.Errorf("the usage report's total is %q", got)
	}
	tb.do(chromedp.NavigateBack())

	// The invoice opens as a printable page, at a phone's width too; the
	// print stylesheet keeps the document only.
	tb.click(row + ` a.invoice-print`)
	if got := tb.text(`#invoice-document h1`); got != "Invoice "+id {
		t.Errorf("the invoice page's title is %q", got)
	}
	if got := tb.text(`#invoice-document-total`); got != "€255.61" {
		t.Errorf("the invoice page's total is %q", got)
	}
	if n := tb.count(`#invoice-document table.lines tbody tr`); n != 2 {
		t.Errorf("the invoice page shows %d lines", n)
	}
	tb.do(chromedp.EmulateViewport(390, 844))
	if got := tb.overflow(`#invoice-document *`); got != "" {
		t.Errorf("the invoice page at 390 px: %s", got)
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: "print"}); err != nil {
		t.Fatal(err)
	}
	hidden := eval[bool](tb, `['header.top', '.contract-bar', 'footer', '#print'].every(s => !document.querySelector(s).checkVisibility())`)
	if !hidden || !eval[bool](tb, `document.querySelector('#invoice-document').checkVisibility()`) {
		t.Errorf("printed, the invoice page keeps its header, navigation, footer or button, or loses the invoice")
	}
}
