// Package domain holds what every aggregate of selfcare shares: the Event
// interface and the error vocabulary the HTTP layer maps to status codes.
// Aggregates live in sub-packages (domain/contract, domain/membership, ...);
// nothing under domain/ imports infrastructure (pgx, mux, watermill).
package domain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Event is a fact an aggregate decided. Its type name is stable: it is
// stored with the event and consumers rely on it (API.md "Event types").
type Event interface {
	EventType() string
}

// Sentinel errors. Handlers map them to HTTP statuses in one place.
var (
	// ErrNotFound: the thing addressed does not exist (404).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the command contradicts the current state: duplicate,
	// limit reached, forbidden transition (409).
	ErrConflict = errors.New("conflict")
	// ErrForbidden: the actor may not do this (403).
	ErrForbidden = errors.New("forbidden")
	// ErrGone: an expired or already used token or code (410).
	ErrGone = errors.New("gone")
	// ErrUnauthenticated: wrong credentials (401).
	ErrUnauthenticated = errors.New("unauthenticated")
)

// FieldError is one problem with one input field. Code is a stable,
// machine-readable word ("required", "too_short", "invalid", ...).
type FieldError struct {
	Field   string `json:"field"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in a command's input (400).
type ValidationError struct {
	Errors []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Errors))
	for i, fe := range e.Errors {
		parts[i] = fe.Field + ": " + fe.Message
	}
	return "invalid input: " + strings.Join(parts, "; ")
}

// Add records a problem with a field.
func (e *ValidationError) Add(field, code, format string, args ...any) {
	e.Errors = append(e.Errors, FieldError{Field: field, Code: code, Message: fmt.Sprintf(format, args...)})
}

// Merge adds the problems of other, prefixing their fields with prefix
// ("profiles." + "users"). other may be nil or not a *ValidationError, in
// which case Merge reports false and does nothing.
func (e *ValidationError) Merge(prefix string, other error) bool {
	var ve *ValidationError
	if !errors.As(other, &ve) {
		return false
	}
	for _, fe := range ve.Errors {
		fe.Field = prefix + fe.Field
		e.Errors = append(e.Errors, fe)
	}
	return true
}

// Err returns e if it holds any problem, else nil. Typical use:
//
//	var v domain.ValidationError
//	... v.Add(...)
//	return v.Err()
func (e *ValidationError) Err() error {
	if len(e.Errors) == 0 {
		return nil
	}
	return e
}

// Invalid returns a ValidationError with a single problem.
func Invalid(field, code, format string, args ...any) error {
	v := &ValidationError{}
	v.Add(field, code, format, args...)
	return v
}

// Conflictf returns an error wrapping ErrConflict with a human message.
func Conflictf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrConflict, fmt.Sprintf(format, args...))
}

// EventType names a stored event type and says how to decode its data.
// Every aggregate package lists its own in a variable (`EventTypes`), and
// domain/registry gathers them explicitly: the stored name never depends on a
// Go type name, so renaming a struct cannot break stored events.
type EventType struct {
	Name string
	// Version is the current schema version of the event's data.
	Version int
	// Decode turns stored data of the current Version into the event.
	Decode func(data []byte) (Event, error)
	// Upcast, if set, rewrites stored data of an older schema version into
	// the shape of the next version (from -> from+1). Stored events are never
	// rewritten; they are upcast on load.
	Upcast map[int]func(data []byte) ([]byte, error)
}

// DecodeJSON is the usual EventType.Decode: JSON into a T.
func DecodeJSON[T Event](data []byte) (Event, error) {
	var e T
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("decode %T: %w", e, err)
	}
	return e, nil
}

// DecodeSnapshot decodes an aggregate's snapshot strictly: one JSON object
// of exactly the fields of T, nothing after it. A snapshot that does not
// decode is not trusted: the caller folds the stream from its start.
func DecodeSnapshot[T any](data []byte, v *T) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if dec.More() {
		return errors.New("snapshot: data after the object")
	}
	return nil
}
