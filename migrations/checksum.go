package migrations

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
)

// Checksum identifies the set of embedded migrations: the first 12 hex
// characters of a SHA-256 over every *.sql file's name and content, in name
// order. Tests use it to name a template database that already holds the
// schema, so a changed migration yields a new template instead of a stale one.
func Checksum() string {
	names, err := fs.Glob(files, "*.sql")
	if err != nil {
		panic(fmt.Sprintf("migrations: glob embedded files: %v", err)) // only on a malformed pattern
	}
	sort.Strings(names)
	h := sha256.New()
	for _, name := range names {
		content, err := fs.ReadFile(files, name)
		if err != nil {
			panic(fmt.Sprintf("migrations: read embedded %s: %v", name, err)) // embedded files are always readable
		}
		// Length prefixes keep ("a", "bc") and ("ab", "c") apart.
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(name)))
		h.Write(n[:])
		h.Write([]byte(name))
		binary.BigEndian.PutUint64(n[:], uint64(len(content)))
		h.Write(n[:])
		h.Write(content)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
