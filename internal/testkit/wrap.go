package testkit

import (
	"net/http"
	"os"
	"sync"
	"testing"

	"selfcare/internal/server"
)

// handlerWrapper wraps the test server's handler, knowing the test and the
// options the server was built with.
type handlerWrapper struct {
	name string
	wrap func(t testing.TB, o *server.Options, h http.Handler) http.Handler
}

func (w handlerWrapper) in(ws []handlerWrapper) bool {
	for _, x := range ws {
		if x.name == w.name {
			return true
		}
	}
	return false
}

// wrappers holds the wrappers that options asked for, by the options value
// New applies them to, until New takes them: an Option only sees the
// server's options, and this keeps the Option type what it is.
var wrappers = struct {
	sync.Mutex
	m map[*server.Options][]handlerWrapper
}{m: map[*server.Options][]handlerWrapper{}}

// wrapWith makes New wrap the test server's handler with w.
func wrapWith(o *server.Options, w handlerWrapper) {
	wrappers.Lock()
	defer wrappers.Unlock()
	wrappers.m[o] = append(wrappers.m[o], w)
}

// wrapHandler applies the wrappers the options of New asked for (and the
// OpenAPI check everywhere when SELFCARE_TEST_OPENAPI=1), first asked
// outermost.
func wrapHandler(t testing.TB, o *server.Options, h http.Handler) http.Handler {
	wrappers.Lock()
	ws := wrappers.m[o]
	delete(wrappers.m, o)
	wrappers.Unlock()
	if os.Getenv("SELFCARE_TEST_OPENAPI") == "1" && !openAPICheck.in(ws) {
		ws = append(ws, openAPICheck)
	}
	for i := len(ws) - 1; i >= 0; i-- {
		if !ws[i].in(ws[:i]) { // asked twice: once is enough
			h = ws[i].wrap(t, o, h)
		}
	}
	return h
}
