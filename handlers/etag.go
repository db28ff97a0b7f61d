package handlers

import "strings"

// etagMatches reports whether an If-None-Match header names etag (weak
// comparison, RFC 9110 §13.1.2) or is "*".
func etagMatches(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == strings.TrimPrefix(etag, "W/") {
			return true
		}
	}
	return false
}
