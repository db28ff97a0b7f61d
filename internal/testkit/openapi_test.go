package testkit

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// exchange is one request to a fake server and what it answers.
type exchange struct {
	method, path, token, contentType, body string
	status                                 int
	respType, respBody                     string
	respHeader                             map[string]string
}

// runChecker sends the exchange through an OpenAPIChecker wrapping a fake
// handler, and returns the violations found.
func runChecker(t *testing.T, x exchange) []string {
	t.Helper()
	fake := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		for k, v := range x.respHeader {
			w.Header().Set(k, v)
		}
		if x.respType != "" {
			w.Header().Set("Content-Type", x.respType)
		}
		w.WriteHeader(x.status)
		_, _ = io.WriteString(w, x.respBody)
	})
	c, err := NewOpenAPIChecker(fake, AdminToken, AuditorToken)
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(x.method, x.path, strings.NewReader(x.body))
	if x.contentType != "" {
		req.Header.Set("Content-Type", x.contentType)
	}
	if x.token != "" {
		req.Header.Set("Authorization", "Bearer "+x.token)
	}
	rec := httptest.NewRecorder()
	c.ServeHTTP(rec, req)
	if rec.Code != x.status || rec.Body.String() != x.respBody {
		t.Fatalf("the checker changed the response: %d %q", rec.Code, rec.Body)
	}
	return c.Violations()
}

const (
	userToken   = "a-user-session-token"
	contractsOK = `{"items":[{"id":"OCB0000124","name":"SL_Prod","offer":"Flexible Engine","platform_id":"0123456789abcdef0123456789abcdef","created_on":"2026-11-24","referent":true}],"next_cursor":null}`
	userOK      = `{"login":"paul.dupont","last_name":"D","first_name":"P","email":"p@example.com","created_on":"2026-11-24","referent":false,"profiles":{"contract":"visitor","dashboard":"none","orders":"none","subscriptions":"none","services":"none","invoices":"none","support":"none","users":"none"},"console":["guest"]}`
	problem400  = `{"type":"about:blank","title":"invalid input","status":400,"errors":[{"field":"name","code":"required","message":"this field is required"}]}`
)

func TestOpenAPICheckerPassesWhatTheDocumentDescribes(t *testing.T) {
	for name, x := range map[string]exchange{
		"a list": {method: "GET", path: "/api/v1/me/contracts?limit=10&sort=-name", token: userToken,
			status: 200, respType: "application/json", respBody: contractsOK},
		"a problem": {method: "GET", path: "/api/v1/me/contracts", status: 401,
			respType: "application/problem+json", respBody: `{"type":"about:blank","title":"not signed in","status":401}`},
		"an invalid request refused": {method: "POST", path: "/api/v1/admin/contracts", token: AdminToken,
			contentType: "application/json", body: `{}`, status: 400, respType: "application/problem+json", respBody: problem400},
		"a valid request refused": {method: "GET", path: "/api/v1/me/contracts", token: userToken,
			status: 400, respType: "application/problem+json", respBody: problem400},
		"no content": {method: "DELETE", path: "/api/v1/sessions/current", token: userToken, status: 204},
		"the feed, for the back office": {method: "GET", path: "/api/v1/events?after=0&types=OrderPlaced,InvoiceIssued", token: AdminToken,
			status: 200, respType: "application/json", respBody: `{"events":[],"next_after":0}`},
		"a path with an extension": {method: "GET", path: "/api/v1/captchas/Xy12.png", status: 200, respType: "image/png", respBody: "\x89PNG"},
		"an unknown path refused": {method: "GET", path: "/api/v1/nothing", status: 404,
			respType: "application/problem+json", respBody: `{"type":"about:blank","title":"not found","status":404}`},
		"a page of the UI": {method: "GET", path: "/", status: 200, respType: "text/html", respBody: "<html></html>"},
	} {
		t.Run(name, func(t *testing.T) {
			if vs := runChecker(t, x); len(vs) > 0 {
				t.Errorf("violations: %v", vs)
			}
		})
	}
}

func TestOpenAPICheckerReportsMismatches(t *testing.T) {
	for name, tc := range map[string]struct {
		x    exchange
		want []string // substrings of the one violation
	}{
		"a required field missing from a response": {
			exchange{method: "GET", path: "/api/v1/me/contracts", token: userToken, status: 200,
				respType: "application/json", respBody: `{"items":[]}`},
			[]string{"GET /api/v1/me/contracts → 200", "listMyContracts", "next_cursor"},
		},
		"a wrongly typed field": {
			exchange{method: "GET", path: "/api/v1/me/contracts", token: userToken, status: 200,
				respType: "application/json", respBody: `{"items":[{"id":"124","name":"x","offer":"y","platform_id":"0123456789abcdef0123456789abcdef","created_on":"2026-11-24"}],"next_cursor":null}`},
			[]string{"→ 200", "id"},
		},
		"an undocumented status": {
			exchange{method: "GET", path: "/healthz", status: 500, respType: "application/problem+json",
				respBody: `{"type":"about:blank","title":"internal error","status":500}`},
			[]string{"GET /healthz → 500", "the operation does not document status 500"},
		},
		"an error that is not a problem": {
			exchange{method: "GET", path: "/api/v1/me/contracts", status: 401, respType: "text/plain", respBody: "no"},
			[]string{"→ 401", "text/plain"},
		},
		"an invalid request accepted": {
			exchange{method: "POST", path: "/api/v1/admin/contracts", token: AdminToken, contentType: "application/json",
				body: `{"name":"x"}`, status: 201, respType: "application/json",
				respBody: `{"id":"OCB0000124","platform_id":"0123456789abcdef0123456789abcdef","name":"x","offer":"y","created_on":"2026-11-24","referent_login":"paul.dupont"}`},
			[]string{"POST /api/v1/admin/contracts → 201", "accepted a request the document says is invalid", "offer"},
		},
		"a token of the wrong kind accepted": {
			exchange{method: "GET", path: "/api/v1/me/contracts", token: AdminToken, status: 200,
				respType: "application/json", respBody: contractsOK},
			[]string{"accepted a request", `a bearer token of security scheme "backOffice", not "session"`},
		},
		"no token, accepted": {
			exchange{method: "GET", path: "/api/v1/events", status: 200, respType: "application/json", respBody: `{"events":[],"next_after":0}`},
			[]string{"GET /api/v1/events → 200", `no bearer token for security scheme "auditor"`, `"backOffice"`},
		},
		"a bad query parameter accepted": {
			exchange{method: "GET", path: "/api/v1/me/contracts?limit=1000", token: userToken, status: 200,
				respType: "application/json", respBody: contractsOK},
			[]string{"?limit=1000 → 200", `"limit"`},
		},
		"a required header missing": {
			exchange{method: "GET", path: "/api/v1/contracts/OCB0000124/users/paul.dupont", token: userToken, status: 200,
				respType: "application/json", respBody: `{"login":"paul.dupont","last_name":"D","first_name":"P","email":"p@example.com","created_on":"2026-11-24","referent":true,"profiles":{"contract":"manager","dashboard":"visitor","orders":"visitor","subscriptions":"manager","services":"manager","invoices":"manager","support":"manager","users":"manager"},"console":[]}`},
			[]string{"→ 200", `"ETag" missing`},
		},
		"a console user without console roles accepted": {
			exchange{method: "POST", path: "/api/v1/contracts/OCB0000124/console-users", token: userToken, contentType: "application/json",
				body:   `{"civility":"mr","last_name":"D","first_name":"P","login":"paul.dupont","email":"p@example.com","console":[]}`,
				status: 201, respType: "application/json", respBody: userOK},
			[]string{"POST /api/v1/contracts/OCB0000124/console-users → 201", "at /console", "minimum number of items is 1"},
		},
		"a section that does not exist accepted": {
			exchange{method: "PUT", path: "/api/v1/contracts/OCB0000124/users/paul.dupont/roles", token: userToken, contentType: "application/json",
				body: `{"profiles":{"billing":"manager"}}`, status: 200, respType: "application/json", respBody: userOK},
			[]string{"→ 200", "accepted a request", "billing"},
		},
		"an undocumented endpoint answered": {
			exchange{method: "GET", path: "/api/v1/secret", status: 200, respType: "application/json", respBody: `{}`},
			[]string{"GET /api/v1/secret → 200", "no such operation"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			vs := runChecker(t, tc.x)
			if len(vs) != 1 {
				t.Fatalf("want one violation, got %d: %v", len(vs), vs)
			}
			for _, w := range tc.want {
				if !strings.Contains(vs[0], w) {
					t.Errorf("violation %q does not say %q", vs[0], w)
				}
			}
		})
	}
}

func TestOpenAPICheckerCountsRepeatedViolationsOnce(t *testing.T) {
	c, err := NewOpenAPIChecker(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
	}), AdminToken, AuditorToken)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		c.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/healthz", nil))
	}
	vs := c.Violations()
	if len(vs) != 1 || !strings.Contains(vs[0], "status 418 (3 times); body: (empty)") {
		t.Fatalf("violations = %v", vs)
	}
}
