// Package mail sends selfcare's emails (SPEC §9): jobs wait in an outbox
// table, written by the notifier in the transaction that acknowledges the
// event they come from; a sender renders each (French or English
// text/template) and delivers it over SMTP, or as an .eml file when no
// relay is configured, retrying failures with backoff, one job at a time so
// that a failing email never holds up the others. Urgent mail (codes,
// links) has a lane of its own; the sender delivers in parallel over SMTP
// connections it keeps open.
package mail

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"selfcare/domain/console"
	"selfcare/internal/auth"
	"selfcare/internal/secrets"
)

// Kinds of email.
const (
	KindAccess               = "access"                 // set-password link of a new identity
	KindPasswordReset        = "password_reset"         // set-password link asked for
	KindPasswordChanged      = "password_changed"       // confirmation
	KindEmailChanged         = "email_changed"          // to the old address
	KindEmailConfirm         = "email_confirm"          // link confirming a new address, to that address
	KindEmailChangeRequested = "email_change_requested" // notice to the address in force
	KindLoginReminder        = "login_reminder"         // the login
	KindConsoleAccess        = "console_access"         // login, company account, email
	KindVerificationCode     = "verification_code"      // console verification code
	KindOrderConfirmation    = "order_confirmation"     // order placed
)

// Priorities of the outbox: urgent mail is what a person is waiting for,
// right now, to go on (a 60-second code, a set-password link, their
// login); it is leased first, and by a sender lane of its own.
const (
	PriorityUrgent = 0
	PriorityNormal = 1
)

// PriorityOf returns the priority of a kind of email.
func PriorityOf(kind string) int {
	switch kind {
	case KindVerificationCode, KindAccess, KindPasswordReset, KindLoginReminder, KindEmailConfirm:
		return PriorityUrgent
	default:
		return PriorityNormal
	}
}

// Job is an email to send.
type Job struct {
	ID int64
	// EventID is the event the email comes from; links and codes are
	// derived from it when rendering.
	EventID   uuid.UUID
	Kind      string
	Recipient string
	Language  string // "fr" or "en"
	// Params are the template's data. Never a secret.
	Params   map[string]string
	Attempts int
}

// Enqueue adds a job in tx; a second job of the same kind for the same
// event is ignored (a redelivered event).
func Enqueue(ctx context.Context, tx pgx.Tx, j Job, now time.Time) error {
	params, err := json.Marshal(j.Params)
	if err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `
INSERT INTO mail_outbox (event_id, kind, recipient, language, params, created_at, next_attempt_at, priority)
VALUES ($1, $2, $3, $4, $5, $6, $6, $7)
ON CONFLICT (event_id, kind) DO NOTHING`, j.EventID, j.Kind, j.Recipient, j.Language, params, now, PriorityOf(j.Kind))
	if err != nil {
		return fmt.Errorf("enqueue %s email: %w", j.Kind, err)
	}
	return nil
}

// Message is a rendered email.
type Message struct {
	To      string
	Subject string
	Text    string
}

//go:embed templates/*.tmpl
var templateFiles embed.FS

// Renderer turns jobs into messages.
type Renderer struct {
	// PublicURL is the base of links (SELFCARE_PUBLIC_URL).
	PublicURL string
	Keys      *secrets.Keys
	templates map[string]*template.Template
}

// ConfirmEmailPath is where the link confirming a new email points, with
// ?email_token=<token>: the web UI's page.
const ConfirmEmailPath = "/"

// SetPasswordPath is where a set-password link points, with ?token=<token>:
// the web UI's page, which takes the token from there to its set-password
// form (and out of the address bar).
const SetPasswordPath = "/"

// NewRenderer parses the templates.
func NewRenderer(publicURL string, keys *secrets.Keys) (*Renderer, error) {
	r := &Renderer{PublicURL: strings.TrimRight(publicURL, "/"), Keys: keys, templates: map[string]*template.Template{}}
	for _, lang := range []string{"fr", "en"} {
		t, err := template.New(lang).Option("missingkey=error").ParseFS(templateFiles, "templates/"+lang+".tmpl")
		if err != nil {
			return nil, fmt.Errorf("mail templates: %w", err)
		}
		r.templates[lang] = t
	}
	return r, nil
}

// Render renders a job in its language (French when unknown).
func (r *Renderer) Render(j Job) (Message, error) {
	t, ok := r.templates[j.Language]
	if !ok {
		t = r.templates["fr"]
	}
	data := make(map[string]string, len(j.Params)+2)
	for k, v := range j.Params {
		data[k] = v
	}
	switch j.Kind {
	case KindAccess, KindPasswordReset:
		data["link"] = r.PublicURL + SetPasswordPath + "?token=" + auth.LinkToken(r.Keys, j.EventID)
	case KindEmailConfirm:
		data["link"] = r.PublicURL + ConfirmEmailPath + "?email_token=" + auth.LinkToken(r.Keys, j.EventID)
	case KindVerificationCode:
		code, err := console.NewVerificationCode(auth.CodeSource(r.Keys, j.EventID), time.Time{})
		if err != nil {
			return Message{}, err
		}
		data["code"] = code.Code
	}
	var subject, text strings.Builder
	if err := t.ExecuteTemplate(&subject, j.Kind+".subject", data); err != nil {
		return Message{}, fmt.Errorf("render %s email: %w", j.Kind, err)
	}
	if err := t.ExecuteTemplate(&text, j.Kind+".text", data); err != nil {
		return Message{}, fmt.Errorf("render %s email: %w", j.Kind, err)
	}
	return Message{To: j.Recipient, Subject: strings.TrimSpace(subject.String()), Text: strings.TrimLeft(text.String(), "\n")}, nil
}
