package handlers

// RightsRows returns the rights table for the tests of package
// handlers_test: "METHOD /path" → who may call, written as the OpenAPI
// document's x-selfcare-rights: "public", "signed_in", "operator",
// "auditor", "feed_reader", "member:<capability>" or
// "auditor_or_member:<capability>".
func RightsRows() map[string]string {
	out := make(map[string]string, len(rights))
	for endpoint, rl := range rights {
		out[endpoint] = ruleName(rl)
	}
	return out
}

// ruleName names a rule as the OpenAPI document does.
func ruleName(rl rule) string {
	var who string
	switch rl.who {
	case public:
		who = "public"
	case signedIn:
		who = "signed_in"
	case operator:
		who = "operator"
	case auditor:
		who = "auditor"
	case feedReader:
		who = "feed_reader"
	case member:
		who = "member"
	case auditorOrMember:
		who = "auditor_or_member"
	default:
		who = "unknown"
	}
	if rl.can != "" {
		who += ":" + string(rl.can)
	}
	return who
}
