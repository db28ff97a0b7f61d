package web_test

// The role history of a contract's users, for its users managers: the
// changes before → after with actor, address and time, filtered by user
// and period, exported as CSV, and a user's roles as of an instant.

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"selfcare/internal/testkit"
)

func (f *fixture) roleHistory(t *testing.T) {
	env := f.api(t)
	c := env.NewContract("History_Co")
	u := env.AddUser(c, testkit.UserBody(testkit.Unique("hist."), map[string]string{"contract": "visitor", "orders": "visitor"}))
	login := u["login"].(string)
	testkit.Expect(t, env.Put("/api/v1/contracts/"+c.ID+"/users/"+login+"/roles", c.ReferentToken,
		map[string]any{"profiles": map[string]string{"contract": "visitor", "orders": "none", "services": "manager"}}), http.StatusOK)
	env.SettleReadModels()

	tb := f.signedIn(t, "#/contracts/"+c.ID+"/users", c.ReferentLogin, `#users tbody tr`)
	for _, vp := range viewports {
		tb.do(chromedp.EmulateViewport(vp.width, vp.height))
		tb.click(`.tabs a[data-tab="users/history"]`)
		tb.listLoaded("role-changes")
		if got := tb.overflow(`td[data-col="user"], td[data-col="diff"], #history-csv`); got != "" {
			t.Errorf("the role history at %d px: %s", vp.width, got)
		}
		tb.visit("#/contracts/" + c.ID + "/users")
	}

	// The change of the user's roles, newest first: before → after per
	// section, by whom, from where.
	tb.click(`.tabs a[data-tab="users/history"]`)
	tb.listLoaded("role-changes")
	tb.fill(`#history-user`, login)
	tb.click(`#history-apply`)
	tb.until(`document.querySelectorAll('#role-changes tbody tr').length === 2`)
	first := `#role-changes tbody tr:first-child`
	if got := tb.text(first + ` td[data-col="change"]`); got != "Roles changed" {
		t.Errorf("the newest change is %q", got)
	}
	if got := tb.texts(first + ` ul.diff li`); strings.Join(got, "|") != "Orders Visitor → No access|Services No access → Manager" {
		t.Errorf("the change shows %v", got)
	}
	if got := tb.text(first + ` td[data-col="actor"]`); got != c.ReferentLogin {
		t.Errorf("the change's actor is %q", got)
	}
	if got := tb.text(first + ` td[data-col="source_ip"]`); got == "" || got == "—" {
		t.Errorf("the change's source address is %q", got)
	}
	if got := tb.text(`#role-changes tbody tr:nth-child(2) td[data-col="change"]`); got != "Added" {
		t.Errorf("the first change is %q", got)
	}

	// A period after the changes finds none, and says what to do.
	tb.fill(`#history-from`, "2999-01-01")
	tb.click(`#history-apply`)
	tb.until(`document.querySelectorAll('#role-changes tbody tr').length === 0`)
	if got := tb.text(`#role-changes .list-status`); !strings.HasPrefix(got, "No role change matches") {
		t.Errorf("an empty period says %q", got)
	}
	tb.fill(`#history-to`, "2998-01-01")
	tb.click(`#history-apply`)
	if got := tb.text(`#history-error`); !strings.Contains(got, "ends before it starts") {
		t.Errorf("a reversed period says %q", got)
	}
	tb.fill(`#history-from`, "")
	tb.fill(`#history-to`, "")
	tb.click(`#history-apply`)
	tb.until(`document.querySelectorAll('#role-changes tbody tr').length === 2`)

	// The CSV export: the user's changes, through the audit API.
	tb.do(chromedp.Evaluate[chromedp.Void](`(() => {
  const make = URL.createObjectURL;
  URL.createObjectURL = (b) => { b.text().then((x) => { window.exportedCSV = x; }); return make(b); };
})()`))
	tb.click(`#history-csv`)
	tb.until(`typeof window.exportedCSV === 'string'`)
	csv := eval[string](tb, `window.exportedCSV`)
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 3 || !strings.Contains(lines[0], "before_orders") || !strings.Contains(csv, login) {
		t.Errorf("the CSV export is:\n%s", csv)
	}

	// Roles as of an instant: just after the changes, and before them.
	at := eval[string](tb, `document.querySelector('#role-changes tbody tr:first-child time').getAttribute('datetime')`)
	local := func(offsetMinutes int) string {
		return eval[string](tb, fmt.Sprintf(`(() => {
  const d = new Date(Date.parse(%s) + %d * 60000);
  d.setMinutes(d.getMinutes() - d.getTimezoneOffset());
  return d.toISOString().slice(0, 16);
})()`, js(at), offsetMinutes))
	}
	tb.fill(`#as-of-user`, login)
	tb.fill(`#as-of-at`, local(1))
	tb.click(`#as-of-submit`)
	if got := tb.text(`#as-of-roles tr[data-section="services"] td`); got != "Manager" {
		t.Errorf("the roles just after the change: services %q", got)
	}
	tb.fill(`#as-of-at`, local(-60))
	tb.click(`#as-of-submit`)
	if got := tb.text(`#as-of-absent`); got != "This user was not on the contract at that time." {
		t.Errorf("the roles before the user was added: %q", got)
	}
}
