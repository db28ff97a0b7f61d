package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/eventstore"
	"selfcare/internal/auth"
)

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type     string              `json:"type"`
	Title    string              `json:"title"`
	Status   int                 `json:"status"`
	Detail   string              `json:"detail,omitempty"`
	Instance string              `json:"instance,omitempty"`
	Errors   []domain.FieldError `json:"errors,omitempty"`
}

// Errors of the HTTP layer itself; domain errors are in package domain.
var (
	errUnsupportedMedia = errors.New("the request body must be JSON (Content-Type: application/json)")
)

// captchaRequiredType is the problem type of a sign-in that needs a solved
// captcha (401): its errors name "captcha_answer".
const captchaRequiredType = "/problems/captcha-required"

// statusOf is the one table mapping errors to HTTP statuses.
func statusOf(err error) (int, string) {
	var ve *domain.ValidationError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.Is(err, commands.ErrCaptchaRequired):
		return http.StatusUnauthorized, "captcha required"
	case errors.As(err, &ve):
		return http.StatusBadRequest, "invalid input"
	case errors.As(err, &tooLarge):
		return http.StatusRequestEntityTooLarge, "request body too large"
	case errors.Is(err, errUnsupportedMedia):
		return http.StatusUnsupportedMediaType, "unsupported media type"
	case errors.Is(err, domain.ErrUnauthenticated):
		return http.StatusUnauthorized, "not signed in"
	case errors.Is(err, domain.ErrForbidden):
		return http.StatusForbidden, "forbidden"
	case errors.Is(err, domain.ErrNotFound), errors.Is(err, eventstore.ErrStreamNotFound):
		return http.StatusNotFound, "not found"
	case errors.Is(err, commands.ErrPreconditionFailed):
		return http.StatusPreconditionFailed, "precondition failed"
	case errors.Is(err, eventstore.ErrWrongExpectedVersion):
		return http.StatusConflict, "conflict: changed concurrently, read it again and retry"
	case errors.Is(err, domain.ErrConflict):
		return http.StatusConflict, "conflict"
	case errors.Is(err, domain.ErrGone):
		return http.StatusGone, "expired or already used"
	case errors.As(err, new(*commands.ThrottledError)):
		return http.StatusTooManyRequests, "too many requests"
	case errors.Is(err, auth.ErrBusy):
		return http.StatusServiceUnavailable, "busy"
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "timed out"
	default:
		return http.StatusInternalServerError, "internal error"
	}
}

// fail answers a request with the problem matching err. Server errors are
// logged with the request id and answered without their details; a
// throttled request is told when to try again (Retry-After).
func fail(w http.ResponseWriter, r *http.Request, err error) {
	status, title := statusOf(err)
	var throttled *commands.ThrottledError
	if errors.As(err, &throttled) {
		w.Header().Set("Retry-After", strconv.Itoa(int(throttled.RetryAfter.Seconds())))
	}
	if errors.Is(err, auth.ErrBusy) {
		w.Header().Set("Retry-After", strconv.Itoa(int(auth.BusyRetryAfter.Seconds())))
	}
	p := Problem{
		Type:     "about:blank",
		Title:    title,
		Status:   status,
		Detail:   err.Error(),
		Instance: r.URL.Path,
	}
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		p.Errors = ve.Errors
		p.Detail = "the request has invalid fields: see errors"
	}
	var fc *fieldConflict
	if errors.As(err, &fc) {
		p.Errors = []domain.FieldError{fc.field}
	}
	if errors.Is(err, commands.ErrCaptchaRequired) {
		// A problem type of its own, and the field to show, so that a
		// client knows to show a captcha rather than a wrong password.
		p.Type = captchaRequiredType
		p.Detail = commands.ErrCaptchaRequired.Error()
		if len(p.Errors) == 0 {
			p.Errors = []domain.FieldError{{Field: "captcha_answer", Code: "captcha_required",
				Message: "solve a captcha: POST /api/v1/captchas, then send captcha_id and captcha_answer"}}
		}
	}
	if status >= 500 {
		loggerFrom(r.Context()).Error("request failed", "err", err)
		p.Detail = "the server could not complete the request; it was logged under request id " + requestID(r.Context())
	}
	writeProblem(w, p)
}

// fieldConflict is a conflict (409) caused by one field of the input, such
// as a login another identity holds: its problem names the field in
// errors[], as a 400 does, so that a form shows it next to that field.
type fieldConflict struct {
	err   error
	field domain.FieldError
}

func (c *fieldConflict) Error() string { return c.err.Error() }
func (c *fieldConflict) Unwrap() error { return c.err }

// conflictOn ties the conflict err to field, with code.
func conflictOn(field, code string, err error) error {
	return &fieldConflict{err: err, field: domain.FieldError{Field: field, Code: code, Message: err.Error()}}
}

func writeProblem(w http.ResponseWriter, p Problem) {
	writeHead(w, p.Status, "application/problem+json")
	_ = json.NewEncoder(w).Encode(p)
}

// writeHead writes the head of a JSON answer (of contentType): its type,
// no caching, its status.
func writeHead(w http.ResponseWriter, status int, contentType string) {
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
}

// writeJSON answers with v as JSON (as json.Encoder writes it).
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		slog.Default().Warn("write response", "err", err)
		writeHead(w, status, "application/json")
		return
	}
	writeBody(w, status, "application/json", append(body, '\n'))
}

// writeBody answers with body, whose length it declares: net/http then
// sends it as it is instead of in chunks, and needs no write of its own
// for a last, empty chunk.
func writeBody(w http.ResponseWriter, status int, contentType string, body []byte) {
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	writeHead(w, status, contentType)
	if _, err := w.Write(body); err != nil {
		slog.Default().Warn("write response", "err", err)
	}
}

// maxBody bounds request bodies; a larger one is refused with 413.
const maxBody = 1 << 20

// decode reads a JSON request body into v, strictly, with unmarshalStrict.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(strings.ToLower(ct), "application/json") &&
		!strings.HasSuffix(strings.ToLower(strings.SplitN(ct, ";", 2)[0]), "+json") {
		return errUnsupportedMedia
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return jsonError(err)
	}
	start := bytes.TrimLeft(body, " \t\r\n")
	if len(start) == 0 {
		return domain.Invalid("body", "required", "a JSON body is required")
	}
	// Every body of the API is an object: a bare null would decode into
	// nothing at all, an array or a string into a confusing type error.
	if start[0] != '{' && wantsObject(v) {
		return domain.Invalid("body", "invalid_type", "the body must be a JSON object")
	}
	return unmarshalStrict(body, v)
}

// strictJSON are the options of every decoding of client input: a member
// the target does not define is refused, and names match exactly (the
// API's are snake_case), so that "FIRST_NAME" is no alias of "first_name"
// that a duplicate check would miss. jsonv2 also refuses a name given twice,
// invalid UTF-8 and trailing data, by default.
var strictJSON = jsonv2.JoinOptions(jsonv2.RejectUnknownMembers(true), jsonv2.MatchCaseInsensitiveNames(false))

// unmarshalStrict decodes the single JSON value data into v. A member v
// does not know, a name given twice, a value of the wrong JSON type and
// malformed JSON come back as a *domain.ValidationError naming the field
// ("unknown_field", "duplicate_field", "invalid_type", "invalid_json"):
// accepting them silently would let a typo answer 200 while changing
// nothing, and two readers of one body disagree on which value counts.
func unmarshalStrict(data []byte, v any) error {
	// Syntax and duplicate names first, whatever the target: a body that
	// names a field twice is ambiguous before it is anything else.
	if _, err := jsontext.NewDecoder(bytes.NewReader(data)).ReadValue(); err != nil {
		return jsonError(err)
	}
	if err := jsonv2.Unmarshal(data, v, strictJSON); err != nil {
		return jsonError(err)
	}
	return nil
}

// wantsObject reports whether v, a pointer, decodes a JSON object.
func wantsObject(v any) bool {
	t := reflect.TypeOf(v)
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t != nil && (t.Kind() == reflect.Struct || t.Kind() == reflect.Map)
}

func jsonError(err error) error {
	var semErr *jsonv2.SemanticError
	var synErr *jsontext.SyntacticError
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.As(err, &synErr) && errors.Is(synErr.Err, jsontext.ErrDuplicateName):
		field := apiField(synErr.JSONPointer)
		return domain.Invalid(field, "duplicate_field", "the field %q appears twice in the same object", field)
	case errors.As(err, &semErr) && errors.Is(semErr.Err, jsonv2.ErrUnknownName):
		field := apiField(semErr.JSONPointer)
		return domain.Invalid(field, "unknown_field", "%q is not a field of this request", field)
	case errors.As(err, &semErr) && semErr.JSONPointer != "":
		got := map[jsontext.Kind]string{'n': "null", 'f': "boolean", 't': "boolean", '"': "string", '0': "number", '{': "object", '[': "array"}[semErr.JSONKind]
		if got == "" {
			got = "value"
		}
		want := "a value"
		if semErr.GoType != nil {
			want = describeKind(semErr.GoType.Kind())
		}
		return domain.Invalid(apiField(semErr.JSONPointer), "invalid_type", "expected %s, got JSON %s", want, got)
	case errors.As(err, &synErr):
		return domain.Invalid("body", "invalid_json", "malformed JSON at byte %d: %v", synErr.ByteOffset, synErr.Err)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return domain.Invalid("body", "invalid_json", "the JSON body is truncated")
	default:
		return domain.Invalid("body", "invalid_json", "malformed JSON: %v", err)
	}
}

// apiField turns a JSON pointer into the API's field name:
// "/referent/login" → "referent.login", "/lines/0/quantity" →
// "lines[0].quantity"; the root is "body".
func apiField(p jsontext.Pointer) string {
	var b strings.Builder
	for tok := range p.Tokens() {
		if _, err := strconv.Atoi(tok); err == nil && b.Len() > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

func describeKind(k reflect.Kind) string {
	switch k {
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Pointer, reflect.Interface:
		return "a value"
	default:
		return "a number"
	}
}
