package web_test

// Every page at a desktop's width and at a phone's (390 px): no page
// scrolls sideways, the account menu's items are on screen, and the key
// columns of the lists (reference, status, actions) are in view. With
// SELFCARE_SCREENSHOTS=DIR the same walk saves the README's screenshots
// (make screenshots).

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"selfcare/internal/testkit"
)

// viewports are the widths every page is checked at.
var viewports = []struct {
	name          string
	width, height int64
}{
	{"desktop", 1280, 860},
	{"phone", 390, 844},
}

// visit goes to a fragment of the page already open and waits until the
// new screen is drawn and loaded.
func (tb *tab) visit(fragment string) {
	tb.t.Helper()
	tb.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(f => {
  document.querySelector('#view')?.setAttribute('data-stale', '');
  if (location.hash === f) dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = f;
})(%s)`, js(fragment))))
	tb.settled()
}

// settled waits until the page shows its title and nothing still loads.
func (tb *tab) settled() {
	tb.t.Helper()
	tb.until(`!!document.querySelector('#view:not([data-stale]) h1') && !document.querySelector('#view .loading, #app[aria-busy]') &&
  ![...document.querySelectorAll('.list-status')].some(s => s.textContent === 'Loading…')`)
}

// overflow describes what sticks out of the viewport sideways, "" if
// nothing: the page's own width, then the nodes matching sel.
func (tb *tab) overflow(sel string) string {
	tb.t.Helper()
	return eval[string](tb, fmt.Sprintf(`(() => {
  const w = window.innerWidth, out = [];
  if (document.documentElement.scrollWidth > w) out.push('the page is ' + document.documentElement.scrollWidth + ' px wide');
  for (const el of document.querySelectorAll(%s)) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.left < 0 || r.right > w + 0.5) out.push((el.id || el.dataset.col || el.className || el.tagName) + ' spans x ' + Math.round(r.left) + '…' + Math.round(r.right));
  }
  return out.join('; ');
})()`, js(sel)))
}

// screenshot saves the viewport as DIR/name.png when SELFCARE_SCREENSHOTS
// names a directory.
func (tb *tab) screenshot(name string) {
	tb.t.Helper()
	dir := os.Getenv("SELFCARE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png := run(tb, chromedp.CaptureScreenshot())
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		tb.t.Fatal(err)
	}
}

func (f *fixture) phones(t *testing.T) {
	env := f.api(t)
	c := env.NewContract("Phone_Co")
	env.GrantConsoleRoles(c.ID, c.ReferentLogin, "power_user")
	for _, code := range []string{"PS104", "PS108"} {
		if _, err := env.History().PlaceOrder(testkit.UserActor(c.ReferentLogin), c.ID, code, nil); err != nil {
			t.Fatal(err)
		}
	}
	env.DeclareMember(c.ID, map[string]string{"contract": "visitor", "users": "visitor"})
	env.SettleReadModels()

	cid := "#/contracts/" + c.ID
	pages := []struct{ name, fragment string }{
		{"home", "#/"},
		{"account", "#/account"},
		{"my-contracts", "#/account/contracts"},
		{"my-orders", "#/account/orders"},
		{"my-subscriptions", "#/account/subscriptions"},
		{"contract", cid},
		{"dashboard", cid + "/dashboard"},
		{"services", cid + "/services"},
		{"service", cid + "/services/AD135"},
		{"order", cid + "/services/AD135/order"},
		{"orders", cid + "/orders"},
		{"subscriptions", cid + "/subscriptions"},
		{"invoices", cid + "/invoices"},
		{"support", cid + "/support"},
		{"users", cid + "/users"},
		{"add-user", cid + "/users/new"},
		{"role-history", cid + "/users/history"},
		{"console-users", cid + "/console-users"},
		{"console", cid + "/console/credentials"},
	}
	// What must stay in view: the menu, the lists' key columns, buttons.
	const keyParts = `#account-menu nav a, td[data-col="ref"], td[data-col="status"], td.actions, main button, #sections a`
	// The README's screenshots, by page and width.
	shots := map[string]bool{"home-desktop": true, "home-phone": true, "orders-phone": true, "users-desktop": true,
		"role-history-desktop": true, "console-phone": true, "menu-phone": true}

	tb := f.signedIn(t, "#/", c.ReferentLogin, `#home-contracts article`)
	for _, vp := range viewports {
		tb.do(chromedp.EmulateViewport(vp.width, vp.height))
		for _, p := range pages {
			tb.visit(p.fragment)
			if got := tb.overflow(keyParts); got != "" {
				t.Errorf("%s at %d px: %s", p.name, vp.width, got)
			}
			if shot := p.name + "-" + vp.name; shots[shot] {
				if p.name == "console" { // the credentials rather than the header
					tb.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#api-password').scrollIntoView()`))
				}
				tb.screenshot(shot)
			}
		}

		// The account menu opens within the screen, and Escape closes it.
		tb.visit("#/")
		tb.click(`#account-name`)
		tb.visible(`#account-menu nav`)
		if n := tb.count(`#account-menu nav a`); n != 4 {
			t.Errorf("the account menu has %d items", n)
		}
		off := eval[[]string](tb, `[...document.querySelectorAll('#account-menu nav a')].filter(a => {
  const r = a.getBoundingClientRect();
  return r.left < 0 || r.top < 0 || r.right > innerWidth || r.bottom > innerHeight;
}).map(a => a.textContent)`)
		if len(off) > 0 {
			t.Errorf("at %d px the account menu's %v are off screen", vp.width, off)
		}
		if shots["menu-"+vp.name] {
			tb.screenshot("menu-" + vp.name)
		}
		tb.do(chromedp.KeyEvent("\x1b"))
		tb.until(`!document.querySelector('#account-menu').open`)

		// A skip link, first in the page, leads past the header; the
		// current tab keeps its colour under the pointer.
		tb.visit(cid + "/users")
		// A click on the header's empty top-left corner puts the
		// keyboard's starting point at the top of the page.
		tb.do(chromedp.MouseClickXY(1, 1), chromedp.KeyEvent("\t"))
		if got := eval[string](tb, `document.activeElement.className`); got != "skip-link" {
			t.Errorf("at %d px the first Tab reaches %q, not the skip link", vp.width, got)
		}
		if got := tb.overflow(`.skip-link`); got != "" {
			t.Errorf("at %d px the skip link: %s", vp.width, got)
		}
		tb.do(chromedp.KeyEvent("\r"))
		if got := eval[string](tb, `document.activeElement.id`); got != "view" {
			t.Errorf("the skip link moved the focus to %q", got)
		}
		tb.hover(`#sections a[aria-current="page"]`)
		if got := eval[string](tb, `getComputedStyle(document.querySelector('#sections a[aria-current="page"]')).borderBottomColor`); got != "rgb(255, 121, 0)" {
			t.Errorf("at %d px the current section's mark under the pointer is %s, want the orange", vp.width, got)
		}

		// The guide's blocks of the home page and the contract page.
		f.guideBlocks(t, tb, c.ID)

		// The lists' key columns are there to see, on one line each.
		tb.visit(cid + "/orders")
		if n := tb.count(`#orders tbody tr`); n != 2 {
			t.Errorf("at %d px the orders list shows %d orders, want 2", vp.width, n)
		}
		wrapped := eval[[]string](tb, `[...document.querySelectorAll('#orders td[data-col="ref"], #orders td[data-col="placed_at"]')].filter(td => {
  const r = document.createRange(); r.selectNodeContents(td.lastChild || td);
  return r.getClientRects().length > 1;
}).map(td => td.textContent)`)
		if len(wrapped) > 0 {
			t.Errorf("at %d px these references or dates wrap: %v", vp.width, wrapped)
		}
	}
	// On a phone the lists are cards: each cell names its column.
	if got := tb.text(`#orders tbody tr td[data-col="status"]`); got == "" {
		t.Errorf("no status in the order card")
	}
	f.validationMessages(t, tb)
	tb.visit("#/contracts/" + c.ID + "/orders")
	label := eval[string](tb, `getComputedStyle(document.querySelector('#orders tbody td[data-col="status"]'), '::before').content`)
	if label != `"Status"` {
		t.Errorf("the order card's status cell is labelled %s, want \"Status\"", label)
	}
}

// guideBlocks checks the home page's and the contract page's blocks that
// the guide shows (§5.1, §5.2), for the referent of contract cid who has a
// console role and two orders.
func (f *fixture) guideBlocks(t *testing.T, tb *tab, cid string) {
	t.Helper()
	tb.visit("#/")
	card := `#home-contracts article[data-contract="` + cid + `"]`
	tb.visible(card + ` a.your-services`)
	if got := eval[string](tb, `document.querySelector(`+js(card+` a.your-services`)+`).getAttribute('href')`); got != "#/contracts/"+cid+"/services" {
		t.Errorf("Your services leads to %s", got)
	}
	if got := tb.text(card + ` button.console-sso`); got != "Access the technical console" {
		t.Errorf("the contract card's console button says %q", got)
	}
	tb.visible(`#home-services article`)
	if got := tb.text(`#home-services .lead`); got != "Enrich your offer" {
		t.Errorf("the catalog teaser says %q", got)
	}
	if n := tb.count(`#home-services article`); n != 3 {
		t.Errorf("the catalog teaser shows %d services, want 3", n)
	}
	tb.visible(`#home-news-link`)
	if got := eval[string](tb, `document.querySelector('#home-news-link').rel`); got != "noopener noreferrer" {
		t.Errorf("the news link's rel is %q", got)
	}
	if got := eval[string](tb, `document.querySelector('#home-contact a').getAttribute('href')`); got != "#/contracts/"+cid+"/support" {
		t.Errorf("Contact us leads to %q", got)
	}
	if got := tb.texts(`footer .footer-links a`); strings.Join(got, ",") != "Terms of sale,Legal notice,Privacy" {
		t.Errorf("the footer's links are %v", got)
	}
	tb.until(`document.querySelectorAll('#home-orders tbody tr').length === 2`)
	if got := tb.texts(`#home-orders tbody td[data-col="offer"]`); strings.Join(got, ",") != "Flexible Engine,Flexible Engine" {
		t.Errorf("the last orders' offer column: %v", got)
	}
	// The contract page's orders are a table too.
	tb.visit("#/contracts/" + cid)
	tb.until(`document.querySelectorAll('#contract-orders table tbody tr').length === 2`)
	if got := tb.texts(`#contract-orders thead th`); !slices.Contains(got, "Offer") || !slices.Contains(got, "Status") {
		t.Errorf("the contract's orders table has columns %v", got)
	}
}

// hover moves the mouse over the centre of the first node matching sel.
func (tb *tab) hover(sel string) {
	tb.t.Helper()
	xy := eval[[]float64](tb, fmt.Sprintf(`(() => { const r = document.querySelector(%s).getBoundingClientRect(); return [r.x + r.width / 2, r.y + r.height / 2]; })()`, js(sel)))
	if _, err := chromedp.Call(tb.ctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{Type: input.DispatchMouseEventTypeMouseMoved, X: xy[0], Y: xy[1]}); err != nil {
		tb.fail(err)
	}
}

// validationMessages checks that a refused field says what is expected,
// in the user's language.
func (f *fixture) validationMessages(t *testing.T, tb *tab) {
	t.Helper()
	for _, c := range []struct{ want, next string }{
		{"Too few digits: a phone number has 6 to 20 digits, for example 01 23 45 67 89.", "English"},
		{"Trop peu de chiffres : un numéro de téléphone a de 6 à 20 chiffres, par exemple 01 23 45 67 89.", "Français"},
	} {
		want := c.want
		tb.visit("#/account")
		tb.click(`#edit-profile`)
		// One number at least: a field shows it is required while the
		// other is empty.
		required := func() string {
			return eval[string](tb, `['phone', 'mobile'].filter(k => {
  const el = document.querySelector('#profile-' + k);
  return el.required && el.labels[0].querySelector('.req:not([hidden])');
}).join()`)
		}
		tb.fill(`#profile-mobile`, "")
		tb.fill(`#profile-phone`, "01 23 45 67 89")
		if got := required(); got != "phone" {
			t.Errorf("a landline and no mobile: required %q, want the landline", got)
		}
		tb.fill(`#profile-phone`, "")
		if got := required(); got != "phone,mobile" {
			t.Errorf("no number: required %q, want both", got)
		}
		tb.fill(`#profile-phone`, "12")
		tb.click(`#profile-save`)
		if got := tb.text(`#profile-form .field:has(#profile-phone) .field-error`); got != want {
			t.Errorf("a phone of 2 digits is refused with %q, want %q", got, want)
		}
		tb.click(`#lang-switch`)
		// The switch draws the page again once the profile is saved.
		tb.until(fmt.Sprintf(`document.querySelector('#lang-switch')?.textContent === %s`, js(c.next)))
	}
}
