package handlers_test

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"selfcare/internal/testkit"
)

func TestWebUIIsServedWithItsTypesCachingAndPolicy(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)

	index := testkit.Expect(t, env.Get("/", ""), http.StatusOK)
	if ct := index.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("index Content-Type = %q", ct)
	}
	if cc := index.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("index Cache-Control = %q, want no-cache (always revalidated)", cc)
	}
	csp := index.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "default-src 'none'", "frame-ancestors 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP allows inline or eval: %q", csp)
	}
	if index.Header.Get("Set-Cookie") != "" {
		t.Errorf("the UI sets a cookie: %q", index.Header.Get("Set-Cookie"))
	}
	body := string(index.Body)
	if strings.Contains(body, "<script>") || regexp.MustCompile(`<script(?:\s[^>]*)?>[^<]`).MatchString(body) {
		t.Errorf("the page has an inline script:\n%s", body)
	}

	// The page names its entry points with their version: cached for good.
	m := regexp.MustCompile(`src="(/ui/main\.js\?v=[A-Za-z0-9_-]+)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page does not load a versioned /ui/main.js:\n%s", body)
	}
	versioned := testkit.Expect(t, env.Get(m[1], ""), http.StatusOK)
	if ct := versioned.Header.Get("Content-Type"); ct != "text/javascript; charset=utf-8" {
		t.Errorf("main.js Content-Type = %q", ct)
	}
	if cc := versioned.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
		t.Errorf("versioned asset Cache-Control = %q", cc)
	}

	// Modules imported by plain URLs are revalidated with their ETag.
	plain := testkit.Expect(t, env.Get("/ui/api.js", ""), http.StatusOK)
	etag := plain.Header.Get("ETag")
	if etag == "" || plain.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("plain asset: ETag %q, Cache-Control %q", etag, plain.Header.Get("Cache-Control"))
	}
	again := env.Do(testkit.Request{Method: "GET", Path: "/ui/api.js", Header: map[string]string{"If-None-Match": etag}})
	testkit.Expect(t, again, http.StatusNotModified)
	if len(again.Body) != 0 {
		t.Errorf("304 with a body of %d bytes", len(again.Body))
	}
	stale := env.Get("/ui/main.js?v=not-the-version", "")
	if testkit.Expect(t, stale, http.StatusOK).Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("a stale version is cached for good: %q", stale.Header.Get("Cache-Control"))
	}

	for path, ct := range map[string]string{
		"/ui/style.css":     "text/css; charset=utf-8",
		"/ui/messages.json": "application/json",
		"/ui/favicon.svg":   "image/svg+xml",
	} {
		r := testkit.Expect(t, env.Get(path, ""), http.StatusOK)
		if got := r.Header.Get("Content-Type"); got != ct {
			t.Errorf("%s Content-Type = %q, want %q", path, got, ct)
		}
	}
}

func TestAPIRoutesWinOverTheWebUI(t *testing.T) {
	t.Parallel()
	env := testkit.New(t)
	for _, path := range []string{"/ui/nothing.js", "/ui/../handlers/web.go", "/api/v1/unknown", "/contracts/OCB0000001"} {
		r := env.Get(path, "")
		if r.Status != http.StatusNotFound {
			t.Errorf("GET %s: %s, want 404", path, r)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" && r.Status == http.StatusNotFound {
			t.Errorf("GET %s: Content-Type %q, want a problem", path, ct)
		}
	}
	// API answers stay JSON, never the page.
	r := testkit.Expect(t, env.Get("/api/v1/me/contracts", ""), http.StatusUnauthorized)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Errorf("API 401 Content-Type = %q", ct)
	}
	testkit.Expect(t, env.Get("/healthz", ""), http.StatusOK)
	if ct := env.Get("/healthz", "").Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("/healthz Content-Type = %q", ct)
	}
	// The page is public: a signed-in user's token changes nothing.
	c := env.NewContract("UI")
	testkit.Expect(t, env.Get("/", c.ReferentToken), http.StatusOK)
}
