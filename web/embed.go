// Package web is the thin web UI of the customer area: one HTML page, CSS
// and JavaScript modules, embedded in the binary and served by
// handlers.WebUI. The UI is a client of the public JSON API like any other.
package web

import (
	"embed"
	"io/fs"
)

//go:embed index.html ui
var files embed.FS

// Assets returns the UI's files: index.html at the root, and the assets it
// loads under ui/ (one flat directory, served as /ui/{file}).
func Assets() fs.FS { return files }
