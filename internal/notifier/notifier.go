// Package notifier turns events into email jobs (SPEC §9): a bus consumer
// group that reads every event once, in order, and writes the emails it
// calls for into the mail outbox in the transaction that acknowledges the
// event, so a job is never lost nor doubled, and sending (package mail)
// never holds up the command that caused it.
package notifier

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/console"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/domain/order"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/internal/auth"
	"selfcare/internal/mail"
	"selfcare/internal/secrets"
	"selfcare/projections/members"
)

// Group is the notifier's bus consumer group.
const Group = "notifier"

// Notifier maps events to emails.
type Notifier struct {
	Pool     *pgxpool.Pool
	Registry *registry.Registry
	// ReadModels is waited for before reading who to write to: the bus
	// may deliver an event before the read models show it.
	ReadModels commands.Waiter
	Keys       *secrets.Keys
	Logger     *slog.Logger
}

// emailing lists the event types that send an email.
var emailing = map[string]bool{
	"PasswordResetRequested": true, "PasswordSet": true, "EmailChangeRequested": true, "LoginReminderRequested": true, "ProfileUpdated": true,
	"ConsoleAccountProvisioned": true, "VerificationCodeSent": true, "OrderPlaced": true,
}

// Handle is the consumer.Handler of the notifier.
func (n *Notifier) Handle(ctx context.Context, rec eventstore.Record) error {
	if !emailing[rec.Type] {
		return nil
	}
	e, err := n.Registry.Decode(rec.Type, rec.SchemaVersion, rec.Data)
	if err != nil {
		n.Logger.Error("notifier: undecodable event; skipped", "position", rec.Position, "type", rec.Type, "err", err)
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = n.ReadModels.WaitFor(wctx, rec.Position)
	cancel()
	if err != nil {
		return err
	}
	job, ok, err := n.job(ctx, rec, e)
	if err != nil || !ok {
		return err
	}
	jobs := []mail.Job{job}
	if c, ok := e.(identity.EmailChangeRequested); ok {
		// The link goes to the new address; the address in force is told
		// (SPEC §10), in case someone else asked.
		notice := job
		notice.Kind, notice.Recipient = mail.KindEmailChangeRequested, c.OldEmail
		jobs = append(jobs, notice)
	}
	tx, ok := eventstore.BusTx(ctx)
	if !ok {
		return errors.New("notifier: no bus transaction in the message's context")
	}
	// A savepoint: a failed insert must not abort the bus transaction,
	// which redelivers the message in it. The writes are not cut short by
	// a shutdown (ctx): a query cancelled midway closes the connection
	// under the subscriber's transaction; they take milliseconds.
	bctx := context.WithoutCancel(ctx)
	sp, err := tx.Begin(bctx)
	if err != nil {
		return err
	}
	for _, job := range jobs {
		if err := mail.Enqueue(bctx, sp, job, time.Now().UTC()); err != nil {
			_ = sp.Rollback(bctx)
			return err
		}
	}
	return sp.Commit(bctx)
}

// members reads who an email is for from the members read model.
func (n *Notifier) members() members.Queries { return members.Queries{Pool: n.Pool} }

func (n *Notifier) contractName(ctx context.Context, cid string) (string, error) {
	if cid == "" {
		return "", nil
	}
	var name string
	err := n.Pool.QueryRow(ctx, `SELECT name FROM rm_members.contracts WHERE id = $1`, cid).Scan(&name)
	if errors.Is(err, pgx.ErrNoRows) {
		return cid, nil
	}
	return name, err
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04") }

// job builds the email of an event; ok is false when there is none to send
// (say the recipient is unknown, which is logged).
func (n *Notifier) job(ctx context.Context, rec eventstore.Record, e domain.Event) (mail.Job, bool, error) {
	var login, kind string
	extra := map[string]string{}
	recipient := ""
	// contractID, when set, names the contract the email is about.
	contractID := ""
	switch e := e.(type) {
	case identity.PasswordResetRequested:
		login = e.Login
		var purpose string
		var contract *string
		err := n.Pool.QueryRow(ctx, `SELECT purpose, contract_id FROM password_tokens WHERE token_hash = $1`,
			auth.HashToken(auth.LinkToken(n.Keys, rec.EventID))).Scan(&purpose, &contract)
		if errors.Is(err, pgx.ErrNoRows) {
			n.Logger.Error("notifier: a set-password link without its token; no email", "position", rec.Position)
			return mail.Job{}, false, nil
		}
		if err != nil {
			return mail.Job{}, false, err
		}
		kind = mail.KindPasswordReset
		extra["contract_id"], extra["contract_name"] = "", ""
		if purpose == commands.LinkAccess {
			kind = mail.KindAccess
			if contract != nil {
				contractID = *contract
			}
		}
		extra["expires_at"] = stamp(e.ExpiresAt)
	case identity.PasswordSet:
		login, kind = e.Login, mail.KindPasswordChanged
		extra["at"], extra["reason"] = stamp(e.At), string(e.Reason)
	case identity.ProfileUpdated:
		if strings.EqualFold(e.Before.Email, e.After.Email) {
			return mail.Job{}, false, nil
		}
		// Told at the old address, in case someone else made the change.
		login, kind, recipient = e.Login, mail.KindEmailChanged, e.Before.Email
		extra["at"], extra["new_email"] = stamp(e.UpdatedAt), e.After.Email
	case identity.LoginReminderRequested:
		login, kind, recipient = e.Login, mail.KindLoginReminder, e.Email
	case identity.EmailChangeRequested:
		login, kind, recipient = e.Login, mail.KindEmailConfirm, e.Email
		extra["new_email"], extra["expires_at"] = e.Email, stamp(e.ExpiresAt)
	case membership.ConsoleAccountProvisioned:
		login, kind, contractID = e.Login, mail.KindConsoleAccess, e.ContractID
		extra["roles"] = strings.Join(e.Roles.Names(), ", ")
	case console.VerificationCodeSent:
		login, kind = e.Login, mail.KindVerificationCode
	case order.OrderPlaced:
		login, kind, contractID = e.PlacedBy, mail.KindOrderConfirmation, e.ContractID
		extra["ref"], extra["name"], extra["service_code"] = e.Ref, e.Name(), e.ServiceCode
		extra["placed_at"] = stamp(e.PlacedAt)
	default:
		return mail.Job{}, false, nil
	}
	if contractID != "" {
		name, err := n.contractName(ctx, contractID)
		if err != nil {
			return mail.Job{}, false, err
		}
		extra["contract_id"], extra["contract_name"] = contractID, name
	}
	p, err := n.members().Identity(ctx, login)
	if errors.Is(err, members.ErrNoIdentity) {
		n.Logger.Warn("notifier: no identity to write to; no email", "position", rec.Position, "type", rec.Type)
		return mail.Job{}, false, nil
	}
	if err != nil {
		return mail.Job{}, false, fmt.Errorf("notifier: %w", err)
	}
	lang := p.Language
	if lang != "en" {
		lang = "fr"
	}
	if o, ok := e.(order.OrderPlaced); ok {
		if name := catalog.Default().Names(o.ServiceCode, o.Parameters)[lang]; name != "" {
			extra["name"] = name // in the reader's language
		}
		extra["price"] = o.Price.Format(lang)
		extra["monthly_price"], extra["initial_payment"] = "", ""
		if o.MonthlyPrice != nil {
			extra["monthly_price"] = o.MonthlyPrice.Format(lang)
		}
		if o.InitialPayment != nil {
			extra["initial_payment"] = o.InitialPayment.Format(lang)
		}
	}
	if recipient == "" {
		recipient = p.Email
	}
	// Who the email is for, as the templates name it.
	params := map[string]string{"login": p.Login, "email": p.Email, "civility": p.Civility, "last_name": p.LastName, "first_name": p.FirstName}
	for k, v := range extra {
		params[k] = v
	}
	return mail.Job{EventID: rec.EventID, Kind: kind, Recipient: recipient, Language: lang, Params: params}, true, nil
}
