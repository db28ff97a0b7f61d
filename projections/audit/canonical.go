package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
)

// canonicalJSON re-encodes a JSON document with object keys sorted and
// numbers kept as written: exactly what encoding/json gives for the
// document decoded with UseNumber into any and marshalled again (the
// chain's format v1 is defined by that), but without building the tree.
// The document is checked by json.Valid first; the walk then copies
// numbers, literals and plain ASCII strings as they are and hands any
// other string to encoding/json, so escaping stays encoding/json's.
func canonicalJSON(raw []byte) ([]byte, error) {
	return appendCanonicalJSON(nil, raw)
}

// appendCanonicalJSON appends canonicalJSON(raw) to dst.
func appendCanonicalJSON(dst, raw []byte) ([]byte, error) {
	var c canonicalizer
	return c.append(dst, raw)
}

// append appends canonicalJSON(raw) to dst, reusing c's buffers.
func (c *canonicalizer) append(dst, raw []byte) ([]byte, error) {
	if !json.Valid(raw) {
		if err := json.Unmarshal(raw, new(any)); err != nil {
			return dst, err
		}
		return dst, errors.New("invalid JSON document")
	}
	return c.appendValid(dst, raw)
}

// appendValid is append for a document known to be valid JSON: what
// PostgreSQL prints from a jsonb column, as every event's data and
// metadata are stored (checking it again was half the sealing's cost).
// A document cut short, or followed by more, is still refused.
func (c *canonicalizer) appendValid(dst, raw []byte) (out []byte, err error) {
	defer func() {
		if recover() != nil { // the walk ran past the end
			out, err = dst, errors.New("invalid JSON document: cut short")
		}
	}()
	c.src, c.i, c.members = raw, 0, c.members[:0]
	if out, err = c.value(dst); err != nil {
		return dst, err
	}
	c.skipSpace()
	if c.i != len(c.src) {
		return dst, errors.New("invalid JSON document: more after the value")
	}
	return out, nil
}

// canonicalizer walks a document json.Valid accepted.
type canonicalizer struct {
	src     []byte
	i       int
	members []member // a stack of the objects being written
	scratch []byte   // an object's members while they are sorted
}

func (c *canonicalizer) skipSpace() {
	for c.i < len(c.src) {
		switch c.src[c.i] {
		case ' ', '\t', '\n', '\r':
			c.i++
		default:
			return
		}
	}
}

func (c *canonicalizer) value(dst []byte) ([]byte, error) {
	c.skipSpace()
	switch c.src[c.i] {
	case '{':
		return c.object(dst)
	case '[':
		return c.array(dst)
	case '"':
		s, _, err := c.str(dst)
		return s, err
	default: // a number or a literal: as written
		start := c.i
		for c.i < len(c.src) {
			switch c.src[c.i] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return append(dst, c.src[start:c.i]...), nil
			}
			c.i++
		}
		return append(dst, c.src[start:c.i]...), nil
	}
}

func (c *canonicalizer) array(dst []byte) ([]byte, error) {
	c.i++ // [
	dst = append(dst, '[')
	c.skipSpace()
	if c.src[c.i] == ']' {
		c.i++
		return append(dst, ']'), nil
	}
	for n := 0; ; n++ {
		if n > 0 {
			dst = append(dst, ',')
		}
		var err error
		if dst, err = c.value(dst); err != nil {
			return dst, err
		}
		c.skipSpace()
		c.i++ // , or ]
		if c.src[c.i-1] == ']' {
			return append(dst, ']'), nil
		}
	}
}

// member is an object's member already written at dst[start:end] as
// "key":value, with its decoded key for sorting.
type member struct {
	key        []byte
	start, end int
}

// object writes the members in the order given, then moves them into
// key order: encoding/json writes a map's keys sorted, and a key given
// twice keeps its last value, as decoding into a map does.
func (c *canonicalizer) object(dst []byte) ([]byte, error) {
	c.i++ // {
	c.skipSpace()
	if c.src[c.i] == '}' {
		c.i++
		return append(dst, '{', '}'), nil
	}
	dst = append(dst, '{')
	open := len(dst)
	base := len(c.members) // nested objects use the stack above
	for {
		c.skipSpace()
		start := len(dst)
		var key []byte
		var err error
		if dst, key, err = c.str(dst); err != nil {
			return dst, err
		}
		c.skipSpace()
		c.i++ // :
		dst = append(dst, ':')
		if dst, err = c.value(dst); err != nil {
			return dst, err
		}
		c.members = append(c.members, member{key: key, start: start, end: len(dst)})
		c.skipSpace()
		c.i++ // , or }
		if c.src[c.i-1] == '}' {
			break
		}
	}
	members := c.members[base:]
	slices.SortStableFunc(members, func(a, b member) int { return bytes.Compare(a.key, b.key) })
	c.scratch = append(c.scratch[:0], dst[open:]...)
	dst = dst[:open]
	for i, m := range members {
		if i+1 < len(members) && bytes.Equal(members[i+1].key, m.key) {
			continue
		}
		if len(dst) > open {
			dst = append(dst, ',')
		}
		dst = append(dst, c.scratch[m.start-open:m.end-open]...)
	}
	c.members = c.members[:base]
	return append(dst, '}'), nil
}

// str appends the canonical encoding of the string at c.i and returns its
// decoded value (in the source when it needs no decoding).
func (c *canonicalizer) str(dst []byte) ([]byte, []byte, error) {
	start := c.i
	c.i++ // "
	plain := true
	for {
		b := c.src[c.i]
		if b == '"' {
			break
		}
		if b == '\\' {
			plain = false
			c.i += 2
			continue
		}
		// encoding/json escapes <, > and &, and rewrites what is not
		// ASCII when it is not valid UTF-8 (and U+2028, U+2029).
		if b < 0x20 || b >= 0x80 || b == '<' || b == '>' || b == '&' {
			plain = false
		}
		c.i++
	}
	c.i++ // "
	lit := c.src[start:c.i]
	if plain {
		return append(dst, lit...), lit[1 : len(lit)-1], nil
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return dst, nil, err
	}
	enc, err := json.Marshal(s)
	if err != nil {
		return dst, nil, err
	}
	return append(dst, enc...), []byte(s), nil
}
