package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"selfcare/internal/testkit"
)

// emailChange walks SPEC §10 in the browser: a new email asks for the
// current password, stays pending (the page says so) until the link sent
// to the new address is followed, and the link works signed out.
func (f *fixture) emailChange(t *testing.T) {
	t.Parallel()
	api := f.api(t)
	c := api.NewContract("Mail_Co")
	oldEmail := c.ReferentLogin + "@example.com"
	newEmail := testkit.Unique("moved.") + "@example.org"

	tb := f.signedIn(t, "#/account", c.ReferentLogin, "#my-profile")
	tb.click(`#edit-profile`)
	tb.visible(`#profile-form`)
	shown := `document.querySelector('#profile-current_password').offsetParent !== null`
	if eval[bool](tb, shown) {
		t.Error("the current password is asked before the email is changed")
	}
	eval[bool](tb, `(document.querySelector('#profile-email').value = '', true)`)
	tb.do(chromedp.SendKeys(chromedp.CSS(`#profile-email`), newEmail))
	tb.until(shown)
	tb.visible(`#profile-current_password`)
	// Without it the form says what is missing and sends nothing.
	tb.click(`#profile-save`)
	tb.visible(`#profile-error`)
	tb.do(chromedp.SendKeys(chromedp.CSS(`#profile-current_password`), testkit.Password))
	tb.click(`#profile-save`)
	tb.visible(`#pending-email`)
	if got := tb.text(`#pending-email`); !strings.Contains(got, newEmail) {
		t.Errorf("the pending notice says %q, want it to name %s", got, newEmail)
	}
	if got := tb.text(`#my-profile dl`); !strings.Contains(got, oldEmail) || strings.Contains(got, newEmail) {
		t.Errorf("the profile shows %q: the old address must stay in force until confirmed", got)
	}

	link := f.mail.Next(t, newEmail)
	i := strings.Index(link.Text, "/?email_token=")
	if i < 0 {
		t.Fatalf("no confirmation link in:\n%s", link.Text)
	}
	url := f.env.URL + strings.Fields(link.Text[i:])[0]
	other := f.tab(t) // signed out, as on another device
	other.do(chromedp.Navigate(url))
	other.visible(`#email-confirmed`)
	if got := other.text(`#email-confirmed`); !strings.Contains(got, newEmail) {
		t.Errorf("confirmation page says %q", got)
	}
	if loc := eval[string](other, `location.href`); strings.Contains(loc, "token") {
		t.Errorf("the token stayed in the address bar: %s", loc)
	}
	// The link is single use.
	other.do(chromedp.Navigate(url))
	other.visible(`#email-not-confirmed`)
	other.forgetProblems() // the refused POST shows as a network error
}
