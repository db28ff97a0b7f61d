package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// referenceCanonicalJSON is the chain format's definition of canonical
// JSON, as it was first written: decode with UseNumber, marshal again.
func referenceCanonicalJSON(raw []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("more than one JSON value")
	}
	return json.Marshal(v)
}

// TestCanonicalJSONEncodesAsTheReference: the walk that skips the tree
// gives byte for byte what the reference gives, on documents written the
// way PostgreSQL prints jsonb and on odd ones, so existing chains verify.
func TestCanonicalJSONEncodesAsTheReference(t *testing.T) {
	t.Parallel()
	docs := []string{
		`{}`, `[]`, `null`, `"x"`, `12.50`, ` { "b" : [ ] , "a" : { } } `,
		`{"b": [1, 2.50, {"y": 1, "x": "é<"}], "a": null}`,
		`{"a": 1, "a": 2, "b": {"a": 3, "a": [4]}}`, // a key twice: the last one counts
		`{"z\u0000": "\u2028\u2029", "\t": "a&b>c", "é": "\ud83d\ude00", "ab": "x\"y\\z\/"}`,
		"{\"bad utf8\": \"\xff\xfe\", \"k\": -0.0e+10, \"t\": true, \"f\": false}",
		`[[[[1]]], {"": ""}, -1, 1E400, "line\nbreak"]`,
		`{"aa": 1, "b": 2, "a": 3, "ab": 4, "B": 5}`,
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		docs = append(docs, randomJSON(rng, 0))
	}
	for _, doc := range docs {
		want, werr := referenceCanonicalJSON([]byte(doc))
		got, gerr := canonicalJSON([]byte(doc))
		if (werr != nil) != (gerr != nil) || !bytes.Equal(got, want) {
			t.Fatalf("%q:\n got %s (%v)\nwant %s (%v)", doc, got, gerr, want, werr)
		}
	}
	for _, bad := range []string{``, `{`, `{"a": 1} {"b": 2}`, `{"a" 1}`, `[1,]`, `"\x"`, `01`} {
		if _, err := canonicalJSON([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// randomJSON writes a random document with random spacing, keys in any
// order and strings that need escaping now and then.
func randomJSON(rng *rand.Rand, depth int) string {
	sp := func() string { return []string{"", " ", "\n ", "\t"}[rng.IntN(4)] }
	str := func() string {
		alphabet := []string{"a", "b", "A", "z", "é", "<", "&", `\"`, `\\`, `\n`, `\u00e9`, `\u2028`, "日", " ", "_"}
		var b strings.Builder
		b.WriteByte('"')
		for range rng.IntN(6) {
			b.WriteString(alphabet[rng.IntN(len(alphabet))])
		}
		b.WriteByte('"')
		return b.String()
	}
	kind := rng.IntN(8)
	if depth > 3 {
		kind = 2 + rng.IntN(6)
	}
	switch kind {
	case 0:
		var parts []string
		for range rng.IntN(6) {
			parts = append(parts, sp()+str()+sp()+":"+sp()+randomJSON(rng, depth+1)+sp())
		}
		return "{" + strings.Join(parts, ",") + "}"
	case 1:
		var parts []string
		for range rng.IntN(5) {
			parts = append(parts, sp()+randomJSON(rng, depth+1)+sp())
		}
		return "[" + strings.Join(parts, ",") + "]"
	case 2, 3:
		return str()
	case 4:
		return []string{"0", "-1", "2.50", "1e3", "-0.000", "123456789012345678901234567890", "1.5E-7"}[rng.IntN(7)]
	case 5:
		return "true"
	case 6:
		return "false"
	default:
		return "null"
	}
}
