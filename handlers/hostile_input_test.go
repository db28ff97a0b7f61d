package handlers_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"selfcare/domain/access"
	"selfcare/handlers"
	"selfcare/internal/testkit"
)

// hostileBodies are request bodies no endpoint accepts as valid input.
var hostileBodies = []struct {
	name        string
	body        string
	contentType string
}{
	{"truncated JSON", `{"login": "a`, "application/json"},
	{"an array", `[1, 2, 3]`, "application/json"},
	{"a string", `"hello"`, "application/json"},
	{"null", `null`, "application/json"},
	{"wrong types everywhere", `{"login": [1], "email": {}, "profiles": "all", "items": 7, "password": 1e309, "roles": true}`, "application/json"},
	{"deep nesting", strings.Repeat("[", 100000) + strings.Repeat("]", 100000), "application/json"},
	{"invalid UTF-8", "{\"login\": \"\xff\xfe\"}", "application/json"},
	{"over a megabyte", `{"login": "` + strings.Repeat("a", 1<<20+10) + `"}`, "application/json"},
	{"a form", "login=a&password=b", "application/x-www-form-urlencoded"},
}

// TestHostileInputNeverFailsOrWrites sends every endpoint of the rights
// table, as a caller it lets through, bodies that are not valid input:
// the answer is never a 5xx, a refusal is a problem+json, and a refused
// request appends no event.
func TestHostileInputNeverFailsOrWrites(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Hostile")
	// The strongest profile of every section, as the referent has.
	member := env.AddSignedInUser(a, "hostile.", access.ReferentProfiles().Map(), access.RoleAdmin)

	for _, row := range handlers.RightsTable() {
		if row.Method == http.MethodGet || row.Method == http.MethodHead {
			continue
		}
		t.Run(row.Key(), func(t *testing.T) {
			path := strings.ReplaceAll(concrete(row, a.ID), "nobody.at.all", member.Login)
			for _, hb := range hostileBodies {
				token := allowedToken(env, row, member)
				before := env.RequestEventCount()
				r := env.Do(testkit.Request{Method: row.Method, Path: path, Token: token, Body: hb.body,
					Header: map[string]string{"Content-Type": hb.contentType}})
				if r.Status >= 500 {
					t.Fatalf("%s: %d %s", hb.name, r.Status, r.Body)
				}
				if r.Status < 400 {
					continue // an endpoint that reads no body (DELETE, sign-out...)
				}
				checkProblem(t, hb.name, r)
				if after := env.RequestEventCount(); after != before {
					t.Errorf("%s: refused with %d, yet %d events were appended", hb.name, r.Status, after-before)
				}
			}
		})
	}
}

// allowedToken is a token of a caller the row lets through (a fresh
// session for the rows that end it).
func allowedToken(env *testkit.Env, row handlers.Endpoint, member testkit.User) string {
	switch row.Audience {
	case "operator", "feed_reader":
		return testkit.AdminToken
	case "auditor":
		return testkit.AuditorToken
	case "signed_in", "member", "auditor_or_member":
		if endsSession[row.Key()] {
			return env.SignIn(member.Login, testkit.Password)
		}
		return member.Token
	}
	return ""
}

type problemFields struct {
	Status int    `json:"status"`
	Title  string `json:"title"`
	Errors []struct {
		Field string `json:"field"`
		Code  string `json:"code"`
	} `json:"errors"`
}

// checkProblem fails unless r is an application/problem+json whose status
// is r's, with a title.
func checkProblem(t *testing.T, name string, r *testkit.Response) problemFields {
	t.Helper()
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Errorf("%s: %d with Content-Type %q", name, r.Status, ct)
	}
	var p problemFields
	if err := json.Unmarshal(r.Body, &p); err != nil || p.Status != r.Status || p.Title == "" {
		t.Errorf("%s: problem %s (%v), want status %d and a title", name, r.Body, err, r.Status)
	}
	return p
}

// hostileText are values PostgreSQL cannot store as text: NUL bytes and
// invalid UTF-8. Go's HTTP client refuses to send a NUL in a header, so
// headers get only the invalid UTF-8.
var (
	hostileText   = []string{"\x00", "x\x00y", "\xff", "a\xc3\x28b"}
	hostileHeader = []string{"\xff", "a\xc3\x28b"}
)

// everyRouteHeaders are the headers selfcare reads on any route, beside
// the ones openapi.json documents per operation.
var everyRouteHeaders = []string{"Idempotency-Key", "If-Match", "If-None-Match", "X-Correlation-Id", "Accept-Language", "Authorization"}

// TestHostileBytesAreRefusedAtTheEdge sends every route of the rights
// table, as a caller it lets through, NUL bytes and invalid UTF-8 in each
// of its path values, in each query parameter openapi.json lists for it
// (and one it does not), and in each header it reads: a path value is
// answered 404, a query parameter or header 400 naming it, always as a
// problem, never a 5xx, and nothing is appended.
func TestHostileBytesAreRefusedAtTheEdge(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Hostile bytes")
	member := env.AddSignedInUser(a, "bytes.", access.ReferentProfiles().Map(), access.RoleAdmin)
	ops := map[string]*openapi3.Operation{}
	for endpoint, op := range documented(loadOpenAPI(t)) {
		ops[normalise(endpoint)] = op
	}

	for _, row := range handlers.RightsTable() {
		t.Run(row.Key(), func(t *testing.T) {
			values := map[string]string{"cid": a.ID, "login": member.Login}
			fill := func(name, value string) string {
				return templateParam.ReplaceAllStringFunc(row.Path, func(p string) string {
					n := strings.Trim(p, "{}")
					switch {
					case n == name:
						return url.PathEscape(value)
					case values[n] != "":
						return url.PathEscape(values[n])
					}
					return "x"
				})
			}
			base := fill("", "")
			if !strings.Contains(row.Path, "{cid}") && strings.Contains(row.Audience, "member") {
				base += "?contract=" + url.QueryEscape(a.ID)
			}
			var queries []string
			headers := slices.Clone(everyRouteHeaders)
			if op := ops[normalise(row.Key())]; op != nil {
				for _, p := range op.Parameters {
					switch p.Value.In {
					case "query":
						queries = append(queries, p.Value.Name)
					case "header":
						headers = append(headers, p.Value.Name)
					}
				}
			} else if strings.HasPrefix(row.Path, "/api/") {
				t.Fatalf("%s is not in openapi.json", row.Key())
			}
			queries = append(queries, "undocumented")

			send := func(name, path string, header map[string]string, want int, field string) {
				t.Helper()
				if header == nil {
					header = map[string]string{}
				}
				token := allowedToken(env, row, member)
				if _, set := header["Authorization"]; !set && token != "" {
					header["Authorization"] = "Bearer " + token
				}
				if row.Method != http.MethodGet {
					header["Content-Type"] = "application/json"
				}
				before := env.RequestEventCount()
				r := env.Do(testkit.Request{Method: row.Method, Path: path, Header: header, Body: bodyFor(row)})
				if r.Status != want {
					t.Errorf("%s: %d %s, want %d", name, r.Status, r.Body, want)
				}
				p := checkProblem(t, name, r)
				if field != "" && !slices.ContainsFunc(p.Errors, func(e struct {
					Field string `json:"field"`
					Code  string `json:"code"`
				}) bool {
					return e.Field == field && e.Code == "invalid_encoding"
				}) {
					t.Errorf("%s: errors %+v do not name %s as invalid_encoding", name, p.Errors, field)
				}
				if after := env.RequestEventCount(); after != before {
					t.Errorf("%s: refused with %d, yet %d events were appended", name, r.Status, after-before)
				}
			}
			for _, v := range hostileText {
				for _, m := range templateParam.FindAllString(row.Path, -1) {
					name := strings.Trim(m, "{}")
					path := fill(name, v)
					if strings.Contains(base, "?") {
						path += base[strings.Index(base, "?"):]
					}
					send(fmt.Sprintf("path %s=%q", name, v), path, nil, http.StatusNotFound, "")
				}
				for _, q := range queries {
					sep := "?"
					if strings.Contains(base, "?") {
						sep = "&"
					}
					send(fmt.Sprintf("query %s=%q", q, v), base+sep+url.QueryEscape(q)+"="+url.QueryEscape(v), nil, http.StatusBadRequest, q)
				}
			}
			for _, v := range hostileHeader {
				for _, h := range headers {
					send(fmt.Sprintf("header %s: %q", h, v), base, map[string]string{h: v}, http.StatusBadRequest, http.CanonicalHeaderKey(h))
				}
			}
		})
	}
}

// bodyFor is a body the row would accept, as far as its shape goes: an
// empty object for writes (the request is refused before it is read).
func bodyFor(row handlers.Endpoint) any {
	if row.Method == http.MethodGet {
		return nil
	}
	return "{}"
}

// bodyProperties returns the names of the top-level properties of op's
// JSON request body, or nil when op takes no body.
func bodyProperties(op *openapi3.Operation) []string {
	if op == nil || op.RequestBody == nil || op.RequestBody.Value == nil {
		return nil
	}
	mt := op.RequestBody.Value.Content.Get("application/json")
	if mt == nil || mt.Schema == nil {
		return nil
	}
	var names []string
	var walk func(s *openapi3.Schema)
	walk = func(s *openapi3.Schema) {
		for name := range s.Properties {
			names = append(names, name)
		}
		for _, sub := range s.AllOf {
			walk(sub.Value)
		}
	}
	walk(mt.Schema.Value)
	slices.Sort(names)
	return names
}

// TestEveryBodyRefusesUnknownAndDuplicateFields sends every route of the
// rights table that takes a JSON body, as a caller it lets through, a body
// with a member the API does not define and a body naming a field twice:
// both are refused with 400 naming the field, and nothing is appended.
func TestEveryBodyRefusesUnknownAndDuplicateFields(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	a := env.NewContract("Strict bodies")
	member := env.AddSignedInUser(a, "strict.", access.ReferentProfiles().Map(), access.RoleAdmin)
	ops := map[string]*openapi3.Operation{}
	for endpoint, op := range documented(loadOpenAPI(t)) {
		ops[normalise(endpoint)] = op
	}
	walked := 0
	for _, row := range handlers.RightsTable() {
		props := bodyProperties(ops[normalise(row.Key())])
		if len(props) == 0 {
			continue
		}
		walked++
		t.Run(row.Key(), func(t *testing.T) {
			path := strings.ReplaceAll(concrete(row, a.ID), "nobody.at.all", member.Login)
			bodies := []struct {
				name, body, field, code string
			}{
				{"unknown field", `{"frist_name": "x"}`, "frist_name", "unknown_field"},
				{"known field in another case", fmt.Sprintf(`{%q: null}`, strings.ToUpper(props[0])), strings.ToUpper(props[0]), "unknown_field"},
				{"duplicate field", fmt.Sprintf(`{%q: null, %q: null}`, props[0], props[0]), props[0], "duplicate_field"},
			}
			for _, b := range bodies {
				before := env.RequestEventCount()
				r := env.Do(testkit.Request{Method: row.Method, Path: path, Token: allowedToken(env, row, member), Body: b.body})
				if r.Status != http.StatusBadRequest {
					t.Errorf("%s: %d %s, want 400", b.name, r.Status, r.Body)
					continue
				}
				p := checkProblem(t, b.name, r)
				if codes := r.FieldCodes(t); codes[b.field] != b.code {
					t.Errorf("%s: errors %+v, want %s %s", b.name, p.Errors, b.field, b.code)
				}
				if after := env.RequestEventCount(); after != before {
					t.Errorf("%s: refused, yet %d events were appended", b.name, after-before)
				}
			}
		})
	}
	if walked < 15 {
		t.Fatalf("only %d routes take a body: the walk is broken", walked)
	}
}
