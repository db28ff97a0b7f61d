package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"selfcare/domain/registry"
	"selfcare/handlers"
	"selfcare/internal/testkit"
)

// parsedOpenAPI is the served document, parsed and validated once (the
// tests only read it).
var parsedOpenAPI = sync.OnceValues(func() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(handlers.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("handlers/openapi.json does not load: %w", err)
	}
	if err := doc.Validate(context.Background(), openapi3.EnableMultiError()); err != nil {
		return nil, fmt.Errorf("handlers/openapi.json is not valid OpenAPI: %w", err)
	}
	return doc, nil
})

// loadOpenAPI returns the served document, parsed and validated as OpenAPI.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := parsedOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func TestOpenAPIDocumentIsValidOpenAPI31(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	if doc.OpenAPI != "3.1.0" || !doc.IsOpenAPI31OrLater() {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	// The document must also be plain, strict JSON (no duplicate keys
	// silently dropped by a lenient reader).
	var v any
	dec := json.NewDecoder(strings.NewReader(string(handlers.OpenAPIDocument())))
	if err := dec.Decode(&v); err != nil || dec.More() {
		t.Fatalf("not a single JSON document: %v", err)
	}
}

// templateParam matches a path template's parameter.
var templateParam = regexp.MustCompile(`\{[^}]*\}`)

// normalise makes "GET /a/{cid}/b/{login}" comparable with "GET
// /a/{x}/b/{y}": parameter names do not matter, only their places.
func normalise(endpoint string) string {
	return templateParam.ReplaceAllString(endpoint, "{}")
}

// documented returns the document's operations, by "METHOD /path".
func documented(doc *openapi3.T) map[string]*openapi3.Operation {
	out := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			out[method+" "+path] = op
		}
	}
	return out
}

// apiEndpoints are the rights table's rows the document must describe:
// the /api/v1 endpoints and the operations endpoints (not the web UI's).
func apiEndpoints() map[string]string {
	out := map[string]string{}
	for endpoint, who := range handlers.RightsRows() {
		_, path, _ := strings.Cut(endpoint, " ")
		switch {
		case strings.HasPrefix(path, "/api/v1/"),
			path == "/healthz", path == "/readyz", path == "/metrics", path == "/openapi.json":
			out[endpoint] = who
		}
	}
	return out
}

func TestOpenAPIDescribesExactlyTheRightsTable(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	inDoc := map[string]string{}
	for endpoint := range documented(doc) {
		inDoc[normalise(endpoint)] = endpoint
	}
	inTable := map[string]string{}
	for endpoint := range apiEndpoints() {
		inTable[normalise(endpoint)] = endpoint
	}
	var missing, extra []string
	for n, endpoint := range inTable {
		if _, ok := inDoc[n]; !ok {
			missing = append(missing, endpoint)
		}
	}
	for n, endpoint := range inDoc {
		if _, ok := inTable[n]; !ok {
			extra = append(extra, endpoint)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("endpoints of handlers/rights.go missing from handlers/openapi.json:\n  %s", strings.Join(missing, "\n  "))
	}
	if len(extra) > 0 {
		t.Errorf("operations of handlers/openapi.json without a row in handlers/rights.go:\n  %s", strings.Join(extra, "\n  "))
	}
	if len(inTable) < 50 {
		t.Fatalf("only %d endpoints in the rights table: the filter is wrong", len(inTable))
	}
}

// securityOf says which security schemes each rights-table audience calls
// with; public endpoints have none.
var securityOf = map[string][]string{
	"public":            nil,
	"signed_in":         {"session"},
	"member":            {"session"},
	"operator":          {"backOffice"},
	"auditor":           {"auditor"},
	"feed_reader":       {"auditor", "backOffice"},
	"auditor_or_member": {"auditor", "session"},
}

func TestOpenAPIOperationsSayWhoMayCallAsTheRightsTableDoes(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	ops := documented(doc)
	byNormal := map[string]string{}
	for endpoint := range ops {
		byNormal[normalise(endpoint)] = endpoint
	}
	for endpoint, who := range apiEndpoints() {
		docEndpoint, ok := byNormal[normalise(endpoint)]
		if !ok {
			continue // reported by TestOpenAPIDescribesExactlyTheRightsTable
		}
		op := ops[docEndpoint]
		t.Run(endpoint, func(t *testing.T) {
			if got, _ := op.Extensions["x-selfcare-rights"].(string); got != who {
				t.Errorf("x-selfcare-rights = %q, the rights table says %q", got, who)
			}
			audience, _, _ := strings.Cut(who, ":")
			want, known := securityOf[audience]
			if !known {
				t.Fatalf("no security schemes known for audience %q: extend securityOf", audience)
			}
			if op.Security == nil {
				t.Fatalf("no security: say it explicitly (\"security\": [] for public endpoints)")
			}
			var got []string
			for _, req := range *op.Security {
				if len(req) != 1 {
					t.Errorf("security requirement %v: want one scheme per alternative", req)
				}
				for name := range req {
					got = append(got, name)
				}
			}
			sort.Strings(got)
			if !slices.Equal(got, want) {
				t.Errorf("security = %v, want %v for a %s endpoint", got, want, audience)
			}
			// Every endpoint may answer 401 (a bad token even on public
			// ones); protected ones 403; member ones also 404.
			statuses := []int{http.StatusUnauthorized}
			if audience != "public" {
				statuses = append(statuses, http.StatusForbidden)
			}
			if audience == "member" || audience == "auditor_or_member" {
				statuses = append(statuses, http.StatusNotFound)
			}
			for _, s := range statuses {
				if op.Responses.Status(s) == nil {
					t.Errorf("does not document %d", s)
				}
			}
			if !strings.Contains(op.Description, "**Who may call:**") {
				t.Errorf("the description does not say who may call")
			}
		})
	}
}

func TestOpenAPIOperationsFollowTheConventions(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	ids := map[string]string{}
	for endpoint, op := range documented(doc) {
		method, _, _ := strings.Cut(endpoint, " ")
		t.Run(endpoint, func(t *testing.T) {
			if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) == 0 {
				t.Errorf("needs an operationId, a summary, a description and a tag")
			}
			if other, dup := ids[op.OperationID]; dup {
				t.Errorf("operationId %q is also %s's", op.OperationID, other)
			}
			ids[op.OperationID] = endpoint
			isWrite := method != http.MethodGet
			// Writes whose answer is a credential refuse the header.
			if slices.Contains(handlers.SecretResponses(), endpoint) {
				if op.Parameters.GetByInAndName("header", "Idempotency-Key") != nil || op.Responses.Status(400) == nil ||
					!strings.Contains(op.Description, "No `Idempotency-Key`") {
					t.Errorf("answers a secret: must not take Idempotency-Key, and must say it refuses it (400)")
				}
				isWrite = false
			} else if isWrite != (op.Parameters.GetByInAndName("header", "Idempotency-Key") != nil) {
				t.Errorf("Idempotency-Key: writes, and only writes, take it (write: %v)", isWrite)
			}
			if isWrite && (op.Responses.Status(400) == nil || op.Responses.Status(409) == nil) {
				t.Errorf("a write answers 400 and 409 for a bad or reused Idempotency-Key: document both")
			}
			if op.RequestBody != nil {
				for _, s := range []int{400, 413, 415} {
					if op.Responses.Status(s) == nil {
						t.Errorf("takes a body but does not document %d", s)
					}
				}
			}
			if op.Parameters.GetByInAndName("header", "If-Match") != nil && op.Responses.Status(412) == nil {
				t.Errorf("takes If-Match but does not document 412")
			}
			success := false
			for code, resp := range op.Responses.Map() {
				if strings.HasPrefix(code, "2") {
					success = true
				}
				if code[0] != '4' && code != "500" {
					continue
				}
				ct := resp.Value.Content
				if len(ct) != 1 || ct.Get("application/problem+json") == nil ||
					ct.Get("application/problem+json").Schema.Ref != "#/components/schemas/Problem" {
					t.Errorf("%s: an error response is application/problem+json with the Problem schema", code)
				}
			}
			if !success {
				t.Errorf("documents no success response")
			}
		})
	}
}

// TestOpenAPIComponentsAreAllUsed keeps the document free of dead parts.
func TestOpenAPIComponentsAreAllUsed(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	raw := string(handlers.OpenAPIDocument())
	check := func(kind string, names []string) {
		for _, name := range names {
			if !strings.Contains(raw, `"#/components/`+kind+`/`+name+`"`) &&
				!strings.Contains(raw, `"#/components/`+kind+`/`+name+`/`) {
				t.Errorf("components.%s.%s is never referred to", kind, name)
			}
		}
	}
	keys := func(m any) []string {
		var out []string
		switch m := m.(type) {
		case openapi3.Schemas:
			for k := range m {
				out = append(out, k)
			}
		case openapi3.ParametersMap:
			for k := range m {
				out = append(out, k)
			}
		case openapi3.ResponseBodies:
			for k := range m {
				out = append(out, k)
			}
		case openapi3.Headers:
			for k := range m {
				out = append(out, k)
			}
		}
		return out
	}
	check("schemas", keys(doc.Components.Schemas))
	check("parameters", keys(doc.Components.Parameters))
	check("responses", keys(doc.Components.Responses))
	check("headers", keys(doc.Components.Headers))
}

// apiEventTypes are the event type names API.md promises consumers.
var apiEventTypes = []string{
	"ContractCreated", "UserAddedToContract", "RolesChanged", "UserRemovedFromContract",
	"ConsoleAccountProvisioned", "ConsoleAccountUpdated", "ConsoleAccountDeprovisioned",
	"PasswordSet", "ProfileUpdated", "ApiPasswordSet", "AccessKeyCreated", "AccessKeyDeleted",
	"OrderPlaced", "OrderCompleted", "OrderRejected", "SubscriptionCreated",
	"SubscriptionStarted", "SubscriptionEnded", "UsageReported", "InvoiceIssued",
}

func TestOpenAPIEventTypesAreTheRegistrys(t *testing.T) {
	t.Parallel()
	doc := loadOpenAPI(t)
	schema := doc.Components.Schemas["EventType"].Value
	var inDoc []string
	for _, v := range schema.Enum {
		inDoc = append(inDoc, v.(string))
	}
	sort.Strings(inDoc)
	registered := registry.All().Names()
	sort.Strings(registered)
	if !slices.Equal(inDoc, registered) {
		t.Errorf("EventType enum = %v,\nthe registry (domain/registry) has %v", inDoc, registered)
	}
	for _, name := range apiEventTypes {
		if !slices.Contains(inDoc, name) {
			t.Errorf("EventType lacks %s, which API.md promises", name)
		}
		if !strings.Contains(schema.Description, "`"+name+"`") {
			t.Errorf("EventType's description does not list %s among the stable names", name)
		}
	}
}

func TestOpenAPIDocumentIsServedWithAnETag(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.CheckOpenAPI())
	r := testkit.Expect(t, env.Get("/openapi.json", ""), http.StatusOK)
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if string(r.Body) != string(handlers.OpenAPIDocument()) {
		t.Errorf("the body is not handlers/openapi.json")
	}
	etag := r.Header.Get("ETag")
	if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
		t.Fatalf("ETag = %q, want a strong quoted tag", etag)
	}
	if cc := r.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("Cache-Control = %q, want no-cache (store, but revalidate)", cc)
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		r := env.Do(testkit.Request{Method: "GET", Path: "/openapi.json", Header: map[string]string{"If-None-Match": inm}})
		if r.Status != http.StatusNotModified || len(r.Body) != 0 || r.Header.Get("ETag") != etag {
			t.Errorf("If-None-Match: %s → %d %q, ETag %q; want 304, no body, the same ETag", inm, r.Status, r.Body, r.Header.Get("ETag"))
		}
	}
	stale := env.Do(testkit.Request{Method: "GET", Path: "/openapi.json", Header: map[string]string{"If-None-Match": `"stale"`}})
	testkit.Expect(t, stale, http.StatusOK)
}

// TestOpenAPIMatchesWhatTheServerAnswers drives the implemented endpoints
// through the OpenAPI check: every request and response, errors included,
// must match the document.
func TestOpenAPIMatchesWhatTheServerAnswers(t *testing.T) {
	t.Parallel()
	env := testkit.New(t, testkit.CheckOpenAPI())

	// Back office: a contract, and a refused one.
	login := testkit.Unique("openapi.referent.")
	created := testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, testkit.ContractBody("SL_Prod", login)), http.StatusCreated).Map(t)
	cid := created["id"].(string)
	bad := testkit.ContractBody("", "short")
	bad["company"].(map[string]any)["siret"] = "123"
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", testkit.AdminToken, bad), http.StatusBadRequest)
	testkit.Expect(t, env.Do(testkit.Request{Method: "POST", Path: "/api/v1/admin/contracts", Token: testkit.AdminToken, Body: `{`}), http.StatusBadRequest)
	testkit.Expect(t, env.Do(testkit.Request{Method: "POST", Path: "/api/v1/admin/contracts", Token: testkit.AdminToken,
		Body: "name=x", Header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}), http.StatusUnsupportedMediaType)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", "", testkit.ContractBody("X", testkit.Unique("x.login."))), http.StatusUnauthorized)
	// Idempotent retries: the same answer, then a conflict for another body.
	key := map[string]string{"Idempotency-Key": testkit.Unique("key-")}
	body := testkit.ContractBody("Retried", testkit.Unique("openapi.retry."))
	first := testkit.Expect(t, env.Do(testkit.Request{Method: "POST", Path: "/api/v1/admin/contracts", Token: testkit.AdminToken, Body: body, Header: key}), http.StatusCreated)
	again := testkit.Expect(t, env.Do(testkit.Request{Method: "POST", Path: "/api/v1/admin/contracts", Token: testkit.AdminToken, Body: body, Header: key}), http.StatusCreated)
	if string(first.Body) != string(again.Body) {
		t.Errorf("the retry got another answer: %s vs %s", first.Body, again.Body)
	}
	testkit.Expect(t, env.Do(testkit.Request{Method: "POST", Path: "/api/v1/admin/contracts", Token: testkit.AdminToken,
		Body: testkit.ContractBody("Other", testkit.Unique("openapi.other.")), Header: key}), http.StatusConflict)

	// Sessions.
	testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": login, "password": "Wrong-password.1"}), http.StatusUnauthorized)
	testkit.Expect(t, env.Post("/api/v1/sessions", "", map[string]string{"login": login}), http.StatusUnauthorized)
	token := env.SignInNew(login)
	other := env.NewContract("Other")

	// A contract, its rights and my contracts.
	testkit.Expect(t, env.Get("/api/v1/contracts/"+cid, token), http.StatusOK)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+cid+"/rights", token), http.StatusOK)
	testkit.Expect(t, env.Get("/api/v1/me/contracts", token), http.StatusOK)
	testkit.Expect(t, env.Get("/api/v1/me/contracts?sort=-created_on&limit=1&q=SL", token), http.StatusOK)
	testkit.Expect(t, env.Get("/api/v1/me/contracts?sort=nope", token), http.StatusBadRequest)
	testkit.Expect(t, env.Get("/api/v1/me/contracts?limit=501", token), http.StatusBadRequest)
	page := testkit.Expect(t, env.Get("/api/v1/me/contracts?limit=1", other.ReferentToken), http.StatusOK).Map(t)
	if page["next_cursor"] != nil {
		t.Errorf("one contract, one page: %v", page)
	}

	// Problems: 401, 403, 404.
	testkit.Expect(t, env.Get("/api/v1/contracts/"+cid, ""), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+cid, "not-a-token"), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/healthz", "not-a-token"), http.StatusUnauthorized)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+cid, testkit.AdminToken), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/me/contracts", testkit.AuditorToken), http.StatusForbidden)
	testkit.Expect(t, env.Post("/api/v1/admin/contracts", token, testkit.ContractBody("X", testkit.Unique("x.login."))), http.StatusForbidden)
	testkit.Expect(t, env.Get("/api/v1/contracts/"+cid, other.ReferentToken), http.StatusNotFound)
	testkit.Expect(t, env.Get("/api/v1/contracts/OCB9999999/rights", token), http.StatusNotFound)

	// Operations.
	testkit.Expect(t, env.Get("/healthz", ""), http.StatusOK)
	testkit.Expect(t, env.Get("/readyz", ""), http.StatusOK)
	testkit.Expect(t, env.Get("/metrics", ""), http.StatusOK)

	// Sign out.
	testkit.Expect(t, env.Delete("/api/v1/sessions/current", token), http.StatusNoContent)
	testkit.Expect(t, env.Get("/api/v1/me/contracts", token), http.StatusUnauthorized)
}
