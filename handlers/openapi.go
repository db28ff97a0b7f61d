package handlers

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of the API: hand-written,
// and kept in sync with the rights table and the handlers by tests
// (openapi_test.go, and testkit.CheckOpenAPI in integration tests).
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag is a strong validator of the document: it changes only when
// the document does, that is with a new build.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// OpenAPIDocument returns the OpenAPI document served at /openapi.json.
func OpenAPIDocument() []byte { return bytes.Clone(openAPIDocument) }

// OpenAPI serves the OpenAPI document.
type OpenAPI struct{}

// Routes registers GET /openapi.json.
func (OpenAPI) Routes(r *Routes) {
	r.Handle("GET /openapi.json", serveOpenAPI)
}

// serveOpenAPI answers with the document, or 304 to a client whose copy is
// current. Caches may keep it but must revalidate (no-cache): a new
// release changes it without changing its URL.
func serveOpenAPI(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("ETag", openAPIETag)
	h.Set("Cache-Control", "no-cache")
	if etagMatches(r.Header.Get("If-None-Match"), openAPIETag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(openAPIDocument)
}
