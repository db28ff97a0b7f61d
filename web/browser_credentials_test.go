package web_test

// The console credentials page (SPEC §5): a console user sets the API
// password and manages access keys with codes read from the emails the
// server sends; a user without a console role is not offered the page.

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"selfcare/internal/testkit"
)

// allowClipboard lets the tab's page use the clipboard as a focused page
// whose user allowed it would.
func (tb *tab) allowClipboard() {
	tb.t.Helper()
	contextID := chromedp.FromContext(tb.ctx).BrowserContextID
	for _, name := range []string{"clipboard-read", "clipboard-write"} {
		if _, err := chromedp.CallBrowser(tb.ctx, browser.SetPermission, browser.SetPermissionParams{
			Permission: &browser.PermissionDescriptor{Name: name}, Setting: browser.PermissionSettingGranted,
			Origin: tb.base, BrowserContextID: contextID,
		}); err != nil {
			tb.t.Fatalf("grant %s: %v", name, err)
		}
	}
	if _, err := chromedp.Call(tb.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		tb.t.Fatalf("emulate focus: %v", err)
	}
}

// keyRows lists the access keys the page shows, by id.
func (tb *tab) keyRows() []string {
	tb.t.Helper()
	return eval[[]string](tb, `[...document.querySelectorAll('#access-keys-list tbody tr')].map(tr => tr.dataset.key)`)
}

// storedAnywhere tells whether s is in the page's storage.
func (tb *tab) storedAnywhere(s string) bool {
	tb.t.Helper()
	return eval[bool](tb, `(s => [sessionStorage, localStorage].some(st => Object.keys(st).some(k => k.includes(s) || (st.getItem(k) || '').includes(s))))(`+js(s)+`)`)
}

func (f *fixture) consoleCredentials(t *testing.T) {
	cid := f.c.ID
	env := f.api(t)
	m := env.DeclareMember(cid, map[string]string{"contract": "visitor", "dashboard": "visitor"})
	env.GrantConsoleRoles(cid, m.Login, "power_user")
	email := m.Login + "@example.com"
	const apiPassword = "Api.Password-2026"
	listed := func() []map[string]any {
		var keys []map[string]any
		testkit.Expect(t, env.Get("/api/v1/contracts/"+cid+"/console/access-keys", m.Token), http.StatusOK).JSON(t, &keys)
		return keys
	}

	// The dashboard, next to the console button, and the navigation lead
	// to the page.
	tb := f.signedIn(t, "#/contracts/"+cid+"/dashboard", m.Login, `#console-credentials-link`)
	tb.visible(`#console-sso`)
	if got := tb.sections(); !slices.Equal(got, []string{"contract", "dashboard", "console"}) {
		t.Errorf("a console user visiting the dashboard is offered sections %v", got)
	}
	tb.click(`#console-credentials-link`)
	tb.visible(`#console-account`)
	if hash := eval[string](tb, `location.hash`); hash != "#/contracts/"+cid+"/console/credentials" {
		t.Errorf("the link led to %s", hash)
	}
	if got := tb.text(`#sections a[aria-current="page"]`); got != "Console credentials" {
		t.Errorf("the current section is %q", got)
	}
	for field, want := range map[string]string{"company_account": cid, "email": email, "login": m.Login, "console": "power_user"} {
		if got := tb.text(`#console-account [data-field="` + field + `"]`); got != want {
			t.Errorf("console account %s = %q, want %q", field, got, want)
		}
	}

	// No API password yet: the page says so, and offers no access key,
	// saying why, before any captcha or code.
	if got := tb.text(`#api-password-state`); got != "You have no API password yet: set one to use the API and to create access keys." {
		t.Errorf("the API password's state before it is set: %q", got)
	}
	if got := tb.text(`#api-password-start`); got != "Set the API password" {
		t.Errorf("the API password button says %q", got)
	}
	tb.startOffered(false, "Set your API password first: an access key is created with it.")

	// API password, step 1: the captcha, then a code by email.
	tb.click(`#api-password-start`)
	tb.captchaShown("api-password")
	tb.fill(`#api-password-captcha_answer`, "ABC123")
	tb.click(`#api-password-send-code`)
	tb.visible(`#api-password-form`)
	if got := tb.text(`#api-password-code-sent`); !strings.HasPrefix(got, "A 6-digit code was sent to "+email+".") {
		t.Errorf("after sending the code: %q", got)
	}
	code, _ := f.mail.NextCode(t, email)
	// Step 2: the server's field errors show next to their fields, and a
	// refused form does not spend the code.
	if got := eval[string](tb, `document.querySelector('#api-password-email').value`); got != email {
		t.Errorf("the email field starts with %q", got)
	}
	tb.fill(`#api-password-email`, "someone@else.example")
	tb.fill(`#api-password-new_password`, "Short.1")
	tb.fill(`#api-password-confirm_password`, "Short.1")
	tb.fill(`#api-password-verification_code`, code)
	tb.click(`#api-password-submit`)
	tb.visible(`#api-password-form .field-error`)
	fieldError := func(control string) string {
		return tb.text(`#api-password-form .field:has(#api-password-` + control + `) .field-error`)
	}
	if got := fieldError("email"); got != "This is not the email of your console account." {
		t.Errorf("email error %q", got)
	}
	if got := fieldError("new_password"); got != "Too short: at least 8 characters." {
		t.Errorf("new password error %q", got)
	}
	if got := tb.text(`#api-password-error`); got != "Please correct the fields shown." {
		t.Errorf("the form's alert says %q", got)
	}
	if n := tb.count(`#api-password-form [aria-invalid="true"]`); n != 2 {
		t.Errorf("%d fields marked invalid, want 2 (email, new password)", n)
	}
	tb.fill(`#api-password-email`, email)
	tb.fill(`#api-password-new_password`, apiPassword)
	tb.fill(`#api-password-confirm_password`, apiPassword)
	tb.click(`#api-password-submit`)
	if got := tb.text(`#api-password-done`); got != "Your API password is set. Use it with the company account "+cid+" and the email "+email+"." {
		t.Errorf("after setting the API password: %q", got)
	}
	if n := tb.count(`#api-password-form, #api-password-new_password`); n != 0 {
		t.Errorf("the API password form stays after success")
	}
	if got := tb.text(`#api-password-state`); !strings.HasPrefix(got, "Your API password is set (last changed ") {
		t.Errorf("the API password's state once set: %q", got)
	}
	if got := tb.text(`#api-password-start`); got != "Change the API password" {
		t.Errorf("once set, the API password button says %q", got)
	}
	tb.startOffered(true, "")

	// Access keys: none yet.
	tb.listLoaded("access-keys-list")
	if got := tb.text(`#access-keys-list .list-status`); got != "You have no access key yet. Create one below for your scripts." {
		t.Errorf("empty list says %q", got)
	}
	createKey := func() {
		t.Helper()
		tb.click(`#access-key-start`)
		tb.captchaShown("access-key")
		tb.fill(`#access-key-captcha_answer`, "ABC123")
		tb.click(`#access-key-send-code`)
		tb.visible(`#access-key-form`)
		tb.fill(`#access-key-api_password`, apiPassword)
		code, _ := f.mail.NextCode(t, email)
		tb.fill(`#access-key-verification_code`, code)
		tb.click(`#access-key-submit`)
	}
	tb.allowClipboard()
	var ids, secrets []string
	for i := range 2 {
		createKey()
		tb.visible(`#new-access-key`)
		id, secret := tb.text(`#new-access-key-id`), tb.text(`#new-access-key-secret`)
		if len(id) != 20 || len(secret) != 40 {
			t.Fatalf("key %d shown as %q / %q", i+1, id, secret)
		}
		if stored, err := f.env.Server.Account.Credentials.SecretOf(context.Background(), id); err != nil || stored != secret {
			t.Fatalf("the secret shown for %s is not the one kept: %v", id, err)
		}
		if got := tb.text(`#new-access-key .warning`); !strings.Contains(got, "shown only this once") {
			t.Errorf("the secret box warns %q", got)
		}
		tb.until(fmt.Sprintf(`document.querySelectorAll('#access-keys-list tbody tr').length === %d`, i+1))
		if got := tb.text(`#access-keys-list tr[data-key="` + id + `"] td[data-col="status"]`); got != "Active" {
			t.Errorf("key %s status %q", id, got)
		}
		if tb.storedAnywhere(secret) {
			t.Errorf("the secret of %s is kept in the browser's storage", id)
		}
		tb.click(`#copy-secret`)
		tb.until(`document.querySelector('#copy-status').textContent !== ''`)
		if got := tb.text(`#copy-status`); got != "Copied to the clipboard." {
			t.Errorf("copy says %q", got)
		}
		if got := run(tb, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise)); got != secret {
			t.Errorf("the clipboard holds %q, want the secret", got)
		}
		ids, secrets = append(ids, id), append(secrets, secret)
		if i == 0 {
			tb.click(`#new-access-key-done`)
			if n := tb.count(`#new-access-key`); n != 0 {
				t.Errorf("the secret box stays once dismissed")
			}
		}
	}
	if got := tb.text(`#access-keys-count`); got != "2 of 2 access keys: delete one to create another." {
		t.Errorf("count %q", got)
	}

	// The secrets are shown once: going elsewhere and back, or reloading,
	// shows the keys, not them.
	tb.click(`#sections a[data-section="dashboard"]`)
	tb.click(`#console-credentials-link`)
	tb.until(`document.querySelectorAll('#access-keys-list tbody tr').length === 2`)
	if n := tb.count(`#new-access-key`); n != 0 || strings.Contains(eval[string](tb, `document.body.innerText`), secrets[1]) {
		t.Errorf("the secret is shown again after leaving the page and coming back")
	}
	tb.do(chromedp.Reload())
	tb.visible(`#access-keys-list`)
	tb.until(`document.querySelectorAll('#access-keys-list tbody tr').length === 2`)
	if got := tb.keyRows(); !slices.Equal(got, ids) {
		t.Errorf("after a reload the keys listed are %v, want %v", got, ids)
	}
	page := eval[string](tb, `document.documentElement.outerHTML`)
	for _, s := range secrets {
		if strings.Contains(page, s) || tb.storedAnywhere(s) {
			t.Errorf("a secret is still in the page or its storage after a reload")
		}
	}
	if n := tb.count(`#new-access-key`); n != 0 {
		t.Errorf("a secret box is shown after a reload")
	}

	// A third key is not offered, and the page says why; a reload
	// knows the API password is set.
	if got := tb.text(`#api-password-state`); !strings.HasPrefix(got, "Your API password is set") {
		t.Errorf("after a reload the API password's state is %q", got)
	}
	tb.startOffered(false, "You already have 2 access keys, the most a console account may have: delete one to create another.")

	// Deleting asks first; the list follows.
	tb.click(`#access-keys-list tr[data-key="` + ids[0] + `"] button.delete-key`)
	tb.visible(`dialog.confirm`)
	if got := tb.text(`#confirm-question`); !strings.Contains(got, ids[0]) {
		t.Errorf("the confirmation asks %q", got)
	}
	tb.click(`#confirm-no`)
	if n := tb.count(`dialog.confirm`); n != 0 || len(listed()) != 2 {
		t.Errorf("cancelling deleted the key or left the dialog")
	}
	tb.click(`#access-keys-list tr[data-key="` + ids[0] + `"] button.delete-key`)
	tb.click(`#confirm-yes`)
	tb.until(`document.querySelectorAll('#access-keys-list tbody tr').length === 1`)
	if got := tb.keyRows(); !slices.Equal(got, ids[1:]) {
		t.Errorf("after deleting %s the page lists %v", ids[0], got)
	}
	if got := tb.text(`#access-keys-message`); got != "The access key "+ids[0]+" is deleted." {
		t.Errorf("after deleting: %q", got)
	}
	if keys := listed(); len(keys) != 1 || keys[0]["access_key_id"] != ids[1] {
		t.Errorf("the account's keys after the deletion: %v", keys)
	}
	if got := tb.text(`#access-keys-count`); got != "1 of 2 access keys." {
		t.Errorf("count %q", got)
	}
	tb.startOffered(true, "")
}

// startOffered checks that "Create an access key" is enabled or not, and
// the reason shown beside it ("" for none).
func (tb *tab) startOffered(enabled bool, why string) {
	tb.t.Helper()
	tb.until(fmt.Sprintf(`document.querySelector('#access-key-start')?.disabled === %t`, !enabled))
	got := eval[string](tb, `(() => { const w = document.querySelector('#access-key-why'); return w && !w.hidden ? w.textContent : '' })()`)
	if got != why {
		tb.t.Errorf("beside Create an access key (enabled: %t): %q, want %q", enabled, got, why)
	}
}

func (f *fixture) consoleCredentialsRefused(t *testing.T) {
	cid := f.c.ID
	m := f.api(t).DeclareMember(cid, map[string]string{"contract": "visitor", "dashboard": "visitor"})
	tb := f.signedIn(t, "#/contracts/"+cid+"/dashboard", m.Login, `#no-console-role`)
	if got := tb.sections(); slices.Contains(got, "console") {
		t.Errorf("a user without console role is offered sections %v", got)
	}
	if n := tb.count(`#console-credentials-link`); n != 0 {
		t.Errorf("the dashboard offers the credentials to a user without console role")
	}
	tb.open("#/contracts/" + cid + "/console/credentials")
	if got := tb.text(`#no-access h1`); got != "No access" {
		t.Errorf("the credentials page for a user without console role: %q", got)
	}
	if n := tb.count(`#console-account, #api-password, #access-keys`); n != 0 {
		t.Errorf("the credentials page shows %d blocks to a user without console role", n)
	}
	// As the API: the page is refused for the same reason.
	testkit.Expect(t, f.api(t).Get("/api/v1/contracts/"+cid+"/console/access-keys", m.Token), http.StatusForbidden)
}
