package handlers_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"selfcare/domain"
	"selfcare/domain/membership"
	"selfcare/internal/clock"
	"selfcare/internal/testkit"
)

type roleSet struct {
	Profiles map[string]string `json:"profiles"`
	Console  []string          `json:"console"`
}

type roleChange struct {
	Position      int64     `json:"position"`
	OccurredAt    time.Time `json:"occurred_at"`
	Contract      string    `json:"contract"`
	User          string    `json:"user"`
	Change        string    `json:"change"`
	Actor         string    `json:"actor"`
	ActorKind     string    `json:"actor_kind"`
	SourceIP      string    `json:"source_ip"`
	RequestID     string    `json:"request_id"`
	CorrelationID string    `json:"correlation_id"`
	Before        *roleSet  `json:"before"`
	After         *roleSet  `json:"after"`
}

type roleChangePage struct {
	Items      []roleChange `json:"items"`
	NextCursor *string      `json:"next_cursor"`
}

func roleChanges(t *testing.T, env *testkit.Env, token string, q url.Values) roleChangePage {
	t.Helper()
	var p roleChangePage
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?"+q.Encode(), token), http.StatusOK).JSON(t, &p)
	return p
}

// roleHistory is a contract A whose referent adds the referent of
// contract B, changes their roles, then removes them, an hour apart each.
type roleHistory struct {
	env     *testkit.Env
	clock   *clock.Manual
	a, b    testkit.Contract
	times   []time.Time // added, changed, removed
	actor   string
	outside string // login of B's referent, the target
}

var auditT0 = time.Date(2026, 10, 5, 9, 0, 0, 0, time.UTC)

func newRoleHistory(t *testing.T) roleHistory {
	t.Helper()
	clk := clock.NewManual(auditT0)
	env := testkit.New(t, testkit.WithClock(clk))
	h := roleHistory{env: env, clock: clk, a: env.NewContract("Audited"), b: env.NewContract("Other")}
	h.actor, h.outside = h.a.ReferentLogin, h.b.ReferentLogin
	hist := env.History()
	steps := []func() error{
		func() error {
			return hist.AddUser(testkit.UserActor(h.actor), h.a.ID, h.outside, testkit.Roles("users=visitor orders=visitor"))
		},
		func() error {
			return hist.ChangeRoles(testkit.UserActor(h.actor), h.a.ID, h.outside, testkit.Roles("users=manager invoices=manager", "admin", "guest"))
		},
		func() error { return hist.RemoveUser(testkit.UserActor(h.actor), h.a.ID, h.outside) },
	}
	for _, step := range steps {
		clk.Advance(time.Hour)
		h.times = append(h.times, clk.Now())
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func TestRoleChangesTellWhoChangedWhatWhenAndFromWhere(t *testing.T) {
	t.Parallel()
	h := newRoleHistory(t)
	env := h.env
	all := roleChanges(t, env, testkit.AuditorToken, url.Values{"contract": {h.a.ID}})
	if len(all.Items) != 4 || all.NextCursor != nil {
		t.Fatalf("role changes of %s: %+v", h.a.ID, all)
	}
	referent := all.Items[0]
	if referent.Change != "added" || referent.User != h.a.ReferentLogin || referent.Actor != "bootstrap-admin" ||
		referent.ActorKind != "operator" || referent.Before != nil ||
		referent.After.Profiles["users"] != "manager" || referent.SourceIP != "127.0.0.1" || referent.RequestID == "" {
		t.Fatalf("the referent's addition by the back office: %+v", referent)
	}
	added, changed, removed := all.Items[1], all.Items[2], all.Items[3]
	for i, c := range []roleChange{added, changed, removed} {
		if c.Contract != h.a.ID || c.User != h.outside || c.Actor != h.actor || c.ActorKind != "user" ||
			c.SourceIP != "192.0.2.10" || c.RequestID == "" || c.CorrelationID != c.RequestID || !c.OccurredAt.Equal(h.times[i]) {
			t.Errorf("change %d: %+v", i, c)
		}
	}
	if added.Change != "added" || added.Before != nil || added.After.Profiles["users"] != "visitor" ||
		added.After.Profiles["orders"] != "visitor" || added.After.Profiles["contract"] != "manager" || len(added.After.Console) != 0 {
		t.Errorf("added: %+v", added)
	}
	if changed.Change != "changed" || changed.Before.Profiles["users"] != "visitor" || changed.After.Profiles["users"] != "manager" ||
		changed.After.Profiles["orders"] != "none" || fmt.Sprint(changed.After.Console) != "[admin guest]" || len(changed.Before.Console) != 0 {
		t.Errorf("changed: %+v", changed)
	}
	if removed.Change != "removed" || removed.Before.Profiles["invoices"] != "manager" || fmt.Sprint(removed.Before.Console) != "[admin guest]" ||
		removed.After != nil {
		t.Errorf("removed: %+v", removed)
	}
	for i := 1; i < len(all.Items); i++ {
		if all.Items[i].Position <= all.Items[i-1].Position {
			t.Fatalf("not in position order: %+v", all.Items)
		}
	}

	// Filters: target user, actor, time range (from inclusive, to
	// exclusive; a day as to includes that whole day).
	for name, tc := range map[string]struct {
		q    url.Values
		want []int64
	}{
		"user":              {url.Values{"contract": {h.a.ID}, "user": {h.outside}}, []int64{added.Position, changed.Position, removed.Position}},
		"user any case":     {url.Values{"contract": {h.a.ID}, "user": {"  " + upper(h.outside)}}, []int64{added.Position, changed.Position, removed.Position}},
		"actor":             {url.Values{"actor": {h.actor}}, []int64{added.Position, changed.Position, removed.Position}},
		"back office":       {url.Values{"actor": {"bootstrap-admin"}, "contract": {h.a.ID}}, []int64{referent.Position}},
		"from":              {url.Values{"contract": {h.a.ID}, "from": {h.times[1].Format(time.RFC3339)}}, []int64{changed.Position, removed.Position}},
		"to instant":        {url.Values{"contract": {h.a.ID}, "to": {h.times[1].Format(time.RFC3339)}}, []int64{referent.Position, added.Position}},
		"from to":           {url.Values{"from": {h.times[0].Add(time.Second).Format(time.RFC3339)}, "to": {h.times[2].Add(-time.Second).Format(time.RFC3339)}}, []int64{changed.Position}},
		"to day":            {url.Values{"contract": {h.a.ID}, "to": {auditT0.Format(time.DateOnly)}}, []int64{referent.Position, added.Position, changed.Position, removed.Position}},
		"day before":        {url.Values{"to": {auditT0.AddDate(0, 0, -1).Format(time.DateOnly)}}, []int64{}},
		"search":            {url.Values{"contract": {h.a.ID}, "q": {"192.0.2"}}, []int64{added.Position, changed.Position, removed.Position}},
		"other contract":    {url.Values{"contract": {h.b.ID}, "user": {h.outside}}, nil},
		"newest first":      {url.Values{"contract": {h.a.ID}, "sort": {"-position"}}, []int64{removed.Position, changed.Position, added.Position, referent.Position}},
		"by user then time": {url.Values{"contract": {h.a.ID}, "sort": {"user"}, "actor": {h.actor}}, []int64{added.Position, changed.Position, removed.Position}},
	} {
		got := roleChanges(t, env, testkit.AuditorToken, tc.q)
		positions := []int64{}
		for _, c := range got.Items {
			positions = append(positions, c.Position)
		}
		if name == "other contract" {
			// B's referent was added to B by the back office.
			if len(positions) != 1 || got.Items[0].Contract != h.b.ID {
				t.Errorf("%s: %+v", name, got.Items)
			}
			continue
		}
		if fmt.Sprint(positions) != fmt.Sprint(tc.want) {
			t.Errorf("%s (%s): positions %v, want %v", name, tc.q.Encode(), positions, tc.want)
		}
	}
	for q, field := range map[string]string{
		"from=yesterday": "from", "to=2026-13-01": "to", "sort=ip": "sort", "limit=501": "limit",
		"cursor=zzz": "cursor", "format=xml": "format",
		"from=2026-10-05T12:00:00Z&to=2026-10-05T11:00:00Z": "to",
	} {
		r := testkit.Expect(t, env.Get("/api/v1/audit/role-changes?"+q, testkit.AuditorToken), http.StatusBadRequest)
		if r.FieldCodes(t)[field] == "" {
			t.Errorf("%s: no error on %s: %s", q, field, r.Body)
		}
	}
}

func upper(s string) string { return string(bytes.ToUpper([]byte(s))) }

func TestRoleChangesForUsersManagersOfTheirOwnContractOnly(t *testing.T) {
	t.Parallel()
	h := newRoleHistory(t)
	env := h.env
	// The referent (users manager) of A sees A's history.
	mine := roleChanges(t, env, h.a.ReferentToken, url.Values{"contract": {h.a.ID}})
	if len(mine.Items) != 4 {
		t.Fatalf("A's manager sees %d changes of A", len(mine.Items))
	}
	// Named contract required; another contract is not theirs (404).
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes", h.a.ReferentToken), http.StatusBadRequest)
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+h.b.ID, h.a.ReferentToken), http.StatusNotFound)
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract=OCB9999999", h.a.ReferentToken), http.StatusNotFound)
	// A users visitor may not.
	if err := env.History().AddUser(testkit.UserActor(h.actor), h.a.ID, h.outside, testkit.Roles("users=visitor")); err != nil {
		t.Fatal(err)
	}
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+h.a.ID, h.b.ReferentToken), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+h.a.ID, ""), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/api/v1/audit/role-changes?contract="+h.a.ID, testkit.AdminToken), http.StatusForbidden)
	// Auditors only replay streams and verify the log.
	testkit.Expect(t, env.Get("/api/v1/audit/streams/contract-"+h.a.ID+"/events", h.a.ReferentToken), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/audit/integrity", h.a.ReferentToken), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/audit/integrity", testkit.AdminToken), http.StatusForbidden)
}

// TestRoleChangesPagesAndCSVExport makes more role changes than a page
// holds, in one command, and reads them back by pages and as one CSV.
func TestRoleChangesPagesAndCSVExport(t *testing.T) {
	t.Parallel()
	h := newRoleHistory(t)
	env := h.env
	actor := testkit.UserActor(h.actor)
	actor.RequestID = "=HYPERLINK(\"http://evil.example\")" // clients choose their X-Request-Id
	if err := env.History().AddUser(actor, h.a.ID, h.outside, testkit.Roles("")); err != nil {
		t.Fatal(err)
	}
	// 520 changes decided one after the other, appended at once.
	stream := membership.Stream(h.a.ID, h.outside)
	recs, err := env.Server.Store.Load(context.Background(), stream, 0)
	if err != nil {
		t.Fatal(err)
	}
	var m membership.Membership
	if _, err := env.Server.App.Fold(recs, &m); err != nil {
		t.Fatal(err)
	}
	var events []domain.Event
	for i := 0; i < 520; i++ {
		roles := testkit.Roles("users=visitor")
		if i%2 == 0 {
			roles = testkit.Roles("users=manager")
		}
		decided, err := m.ChangeRoles(membership.ChangeRoles{By: membership.AllRoles, Profiles: roles.Profiles, Console: roles.Console}, env.Server.App.Now())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range decided {
			m.Apply(e)
		}
		events = append(events, decided...)
	}
	if _, err := env.History().Append(testkit.UserActor(h.actor), stream, h.a.ID, events...); err != nil {
		t.Fatal(err)
	}
	const total = 4 + 1 + 520

	// Pages of 200, following next_cursor, give each change once, in order.
	var paged []roleChange
	q := url.Values{"contract": {h.a.ID}, "limit": {"200"}}
	for pages := 0; ; pages++ {
		p := roleChanges(t, env, testkit.AuditorToken, q)
		paged = append(paged, p.Items...)
		if p.NextCursor == nil {
			if pages != 2 {
				t.Fatalf("%d pages of 200 for %d changes", pages+1, total)
			}
			break
		}
		q.Set("cursor", *p.NextCursor)
	}
	if len(paged) != total {
		t.Fatalf("pages hold %d changes, want %d", len(paged), total)
	}
	for i := 1; i < len(paged); i++ {
		if paged[i].Position <= paged[i-1].Position {
			t.Fatalf("page order broken at %d", i)
		}
	}

	// CSV, by ?format= or by Accept: every change (beyond one page), same order.
	for name, req := range map[string]testkit.Request{
		"format": {Method: "GET", Path: "/api/v1/audit/role-changes?format=csv&limit=3&contract=" + h.a.ID, Token: testkit.AuditorToken},
		"accept": {Method: "GET", Path: "/api/v1/audit/role-changes?contract=" + h.a.ID, Token: testkit.AuditorToken,
			Header: map[string]string{"Accept": "text/csv, application/json;q=0.5"}},
	} {
		r := testkit.Expect(t, env.Do(req), http.StatusOK)
		if ct := r.Header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Fatalf("%s: Content-Type %q", name, ct)
		}
		rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll()
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) != total+1 {
			t.Fatalf("%s: %d CSV rows, want a header and %d changes", name, len(rows), total)
		}
		col := map[string]int{}
		for i, c := range rows[0] {
			col[c] = i
		}
		for i, row := range rows[1:] {
			if row[col["position"]] != strconv.FormatInt(paged[i].Position, 10) {
				t.Fatalf("%s: row %d is position %s, want %d", name, i, row[col["position"]], paged[i].Position)
			}
		}
		changed := rows[1+2]
		if changed[col["change"]] != "changed" || changed[col["user"]] != h.outside || changed[col["actor"]] != h.actor ||
			changed[col["before_users"]] != "visitor" || changed[col["after_users"]] != "manager" ||
			changed[col["after_console"]] != "admin guest" || changed[col["before_console"]] != "" ||
			changed[col["source_ip"]] != "192.0.2.10" || changed[col["occurred_at"]] != h.times[1].Format(time.RFC3339Nano) {
			t.Errorf("%s: CSV row of the change: %v", name, changed)
		}
		removed := rows[1+3]
		if removed[col["after_users"]] != "" || removed[col["before_invoices"]] != "manager" {
			t.Errorf("%s: CSV row of the removal: %v", name, removed)
		}
		if readded := rows[1+4]; readded[col["request_id"]] != "'"+actor.RequestID {
			t.Errorf("%s: a formula-like cell is not defused: %q", name, readded[col["request_id"]])
		}
	}
	// Nothing matches: the header alone.
	r := testkit.Expect(t, env.Get("/api/v1/audit/role-changes?format=csv&user=nobody", testkit.AuditorToken), http.StatusOK)
	if rows, err := csv.NewReader(bytes.NewReader(r.Body)).ReadAll(); err != nil || len(rows) != 1 || rows[0][0] != "position" {
		t.Fatalf("empty export: %q %v", r.Body, err)
	}
	// Bad parameters are still problems, not CSV.
	r = testkit.Expect(t, env.Get("/api/v1/audit/role-changes?format=csv&sort=nope", testkit.AuditorToken), http.StatusBadRequest)
	if r.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("bad export request answered %s", r.Header.Get("Content-Type"))
	}
}

func loadStreamEvents(t *testing.T, env *testkit.Env, path string) map[string]any {
	t.Helper()
	return testkit.Expect(t, env.Get(path, testkit.AuditorToken), http.StatusOK).Map(t)
}

func TestAuditorsReplayAnyStreamInVersionOrder(t *testing.T) {
	t.Parallel()
	h := newRoleHistory(t)
	env := h.env
	stream := membership.Stream(h.a.ID, h.outside)
	got := loadStreamEvents(t, env, "/api/v1/audit/streams/"+stream+"/events")
	events := got["events"].([]any)
	wantTypes := []string{"UserAddedToContract", "RolesChanged", "ConsoleAccountProvisioned", "UserRemovedFromContract", "ConsoleAccountDeprovisioned"}
	if len(events) != len(wantTypes) || got["stream"] != stream || got["version"] != float64(len(wantTypes)) {
		t.Fatalf("stream %s: %v", stream, got)
	}
	for i, e := range events {
		e := e.(map[string]any)
		if e["version"] != float64(i+1) || e["type"] != wantTypes[i] || e["stream"] != stream || e["event_id"] == "" ||
			e["position"] == nil || e["occurred_at"] == nil || e["data"] == nil {
			t.Errorf("event %d: %v", i, e)
		}
		if md := e["metadata"].(map[string]any); md["actor"] != h.actor || md["source_ip"] != "192.0.2.10" || md["contract"] != h.a.ID {
			t.Errorf("event %d metadata: %v", i, md)
		}
	}
	later := loadStreamEvents(t, env, "/api/v1/audit/streams/"+stream+"/events?after_version=3")
	if evs := later["events"].([]any); len(evs) != 2 || evs[0].(map[string]any)["version"] != float64(4) || later["version"] != float64(5) {
		t.Fatalf("after version 3: %v", later)
	}
	none := loadStreamEvents(t, env, "/api/v1/audit/streams/"+stream+"/events?after_version=9")
	if evs := none["events"].([]any); len(evs) != 0 || none["version"] != float64(5) {
		t.Fatalf("after the last version: %v", none)
	}
	testkit.Expect(t, env.Get("/api/v1/audit/streams/no-such-stream/events", testkit.AuditorToken), http.StatusNotFound)
	testkit.Expect(t, env.Get("/api/v1/audit/streams/"+stream+"/events?after_version=-1", testkit.AuditorToken), http.StatusBadRequest)
}
