package handlers

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strconv"

	"github.com/gorilla/mux"
)

// WebUI serves the thin web UI of the customer area: its one page at / and
// its static assets at /ui/{file}, from Assets (package web). The UI is a
// client of the JSON API like any other: it signs in with POST
// /api/v1/sessions and sends the bearer token, so the server keeps no
// cookie and there is no CSRF surface.
type WebUI struct {
	Assets fs.FS
}

// uiPolicy is the Content-Security-Policy of every UI response: scripts and
// styles only from our own files (no inline script or style), the API of
// the same origin, images of our own (captchas), no framing, and Trusted
// Types so that no string can ever reach an HTML sink such as innerHTML.
const uiPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; " +
	"frame-ancestors 'none'; require-trusted-types-for 'script'; trusted-types 'none'"

// uiContentTypes are the asset types the UI may ship; an embedded file of
// another type is a build defect.
var uiContentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".css":  "text/css; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".ico":  "image/x-icon",
	".json": "application/json",
}

// uiFile is an asset held in memory with its validators.
type uiFile struct {
	body        []byte
	contentType string
	etag        string // strong: a hash of the content
	version     string // the ?v= that marks a URL naming this exact content
}

type uiFiles struct {
	index  uiFile
	assets map[string]uiFile
}

// Routes registers the UI's page and assets.
func (f WebUI) Routes(r *Routes) {
	files, err := loadUI(f.Assets)
	if err != nil {
		// The files are embedded in the binary and checked by the tests.
		panic("handlers: web UI: " + err.Error())
	}
	r.Handle("GET /", files.serveIndex)
	r.Handle("GET /ui/{file}", files.serveAsset)
}

// loadUI reads index.html and ui/*, and rewrites the index's references
// to /ui/NAME as /ui/NAME?v=VERSION, so that the files the page names are
// cached for good, and a new binary's page names new URLs.
func loadUI(fsys fs.FS) (uiFiles, error) {
	out := uiFiles{assets: map[string]uiFile{}}
	entries, err := fs.ReadDir(fsys, "ui")
	if err != nil {
		return out, err
	}
	for _, e := range entries {
		if e.IsDir() {
			return out, fmt.Errorf("ui/%s: assets are one flat directory", e.Name())
		}
		file, err := newUIFile(fsys, "ui/"+e.Name())
		if err != nil {
			return out, err
		}
		out.assets[e.Name()] = file
	}
	index, err := fs.ReadFile(fsys, "index.html")
	if err != nil {
		return out, err
	}
	for name, a := range out.assets {
		ref := `"/ui/` + name + `"`
		index = bytes.ReplaceAll(index, []byte(ref), []byte(`"/ui/`+name+`?v=`+a.version+`"`))
	}
	out.index = uiFileOf(index, uiContentTypes[".html"])
	return out, nil
}

func newUIFile(fsys fs.FS, name string) (uiFile, error) {
	ct, ok := uiContentTypes[path.Ext(name)]
	if !ok {
		return uiFile{}, fmt.Errorf("%s: no content type for %q files", name, path.Ext(name))
	}
	body, err := fs.ReadFile(fsys, name)
	if err != nil {
		return uiFile{}, err
	}
	return uiFileOf(body, ct), nil
}

func uiFileOf(body []byte, contentType string) uiFile {
	sum := sha256.Sum256(body)
	v := base64.RawURLEncoding.EncodeToString(sum[:12])
	return uiFile{body: body, contentType: contentType, etag: `"` + v + `"`, version: v}
}

// serveIndex serves the page. It is always revalidated (no-cache with an
// ETag) so that a new version of the UI is picked up at once.
func (u uiFiles) serveIndex(w http.ResponseWriter, r *http.Request) {
	u.index.serve(w, r, "no-cache")
}

// serveAsset serves a file of ui/. A URL carrying the file's current
// version is cached for a year (its content never changes); any other is
// revalidated with the ETag: the modules the page imports by plain
// relative URLs are cheap 304s.
func (u uiFiles) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := u.assets[mux.Vars(r)["file"]]
	if !ok {
		writeProblem(w, Problem{Type: "about:blank", Title: "not found", Status: http.StatusNotFound,
			Detail: "no such file: " + r.URL.Path})
		return
	}
	cache := "no-cache"
	if r.URL.Query().Get("v") == a.version {
		cache = "public, max-age=31536000, immutable"
	}
	a.serve(w, r, cache)
}

func (f uiFile) serve(w http.ResponseWriter, r *http.Request, cacheControl string) {
	h := w.Header()
	h.Set("Content-Type", f.contentType)
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", f.etag)
	h.Set("Content-Security-Policy", uiPolicy)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
	if etagMatches(r.Header.Get("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.body)
}
