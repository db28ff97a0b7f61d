package handlers

import (
	"sort"
	"strings"

	"selfcare/domain/access"
)

// Endpoint is a row of the rights table, for tests outside the package.
type Endpoint struct {
	Method string
	Path   string
	// Audience is who may call: "public", "signed_in", "operator",
	// "auditor", "feed_reader", "member" or "auditor_or_member".
	Audience string
	// Capability is what a member needs, for member audiences.
	Capability access.Capability
}

// Key is the row's "METHOD /path".
func (e Endpoint) Key() string { return e.Method + " " + e.Path }

var audienceNames = map[audience]string{
	public:          "public",
	signedIn:        "signed_in",
	operator:        "operator",
	auditor:         "auditor",
	feedReader:      "feed_reader",
	member:          "member",
	auditorOrMember: "auditor_or_member",
	oidcProtocol:    "oidc_protocol",
}

// RightsTable returns every row of the rights table, sorted.
func RightsTable() []Endpoint {
	out := make([]Endpoint, 0, len(rights))
	for k, rl := range rights {
		name, ok := audienceNames[rl.who]
		if !ok {
			panic("export_test: an audience has no name: add it to audienceNames")
		}
		method, path, _ := strings.Cut(k, " ")
		out = append(out, Endpoint{Method: method, Path: path, Audience: name, Capability: rl.can})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// RightsRows returns the rights table for the tests of package
// handlers_test: "METHOD /path" → who may call, written as the OpenAPI
// document's x-selfcare-rights: "public", "signed_in", "operator",
// "auditor", "feed_reader", "member:<capability>" or
// "auditor_or_member:<capability>".
func RightsRows() map[string]string {
	out := map[string]string{}
	for _, e := range RightsTable() {
		who := e.Audience
		if e.Capability != "" {
			who += ":" + string(e.Capability)
		}
		out[e.Key()] = who
	}
	return out
}

// ThrottleTable returns the throttle table: "METHOD /path" → the requests
// one address may make in a burst.
func ThrottleTable() map[string]int {
	out := map[string]int{}
	for k, l := range throttles {
		out[k] = l.Burst
	}
	return out
}

// SecretResponses lists the endpoints that refuse an Idempotency-Key.
func SecretResponses() []string {
	var out []string
	for k := range secretResponses {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
