package contract

import (
	"errors"
	"strings"
	"unicode"
	"unicode/utf8"

	"selfcare/domain"
	"selfcare/domain/identity"
)

// CreateInput is the back office's request to create a contract, shaped
// like the body of POST /api/v1/admin/contracts.
type CreateInput struct {
	Name           string                     `json:"name"`
	Offer          string                     `json:"offer"`
	Company        Company                    `json:"company"`
	InvoiceContact Contact                    `json:"invoice_contact"`
	SupportContact SupportContact             `json:"support_contact"`
	Referent       identity.RegistrationInput `json:"referent"`
}

// Creation is a validated CreateInput; only NewCreation makes one.
type Creation struct {
	name           string
	offer          string
	company        Company
	invoiceContact Contact
	supportContact SupportContact
	referent       identity.Registration
}

// Text length bounds of a contract's fields.
const (
	MaxNameLength      = 64
	MaxOfferLength     = 64
	MaxLegalNameLength = 200
	MaxHoursLength     = 100
)

// NewCreation validates a whole create command at once. It returns one
// *domain.ValidationError listing every problem, with fields named as in
// the API body: "name", "offer", "company.legal_name", "company.siret",
// "company.referent_name", "company.referent_email",
// "invoice_contact.phone", "invoice_contact.email",
// "support_contact.phone", "support_contact.email", "support_contact.hours",
// and "referent.<field>" for the referent user (see
// identity.NewRegistration). Codes are those of the identity value types,
// plus for company.siret "invalid" (not 14 digits) and "invalid_checksum".
// Spaces in a SIRET are ignored ("501 615 280 00036").
func NewCreation(in CreateInput) (Creation, error) {
	var v domain.ValidationError
	var c Creation
	c.name = text(&v, "name", in.Name, MaxNameLength, true)
	c.offer = text(&v, "offer", in.Offer, MaxOfferLength, true)

	c.company.LegalName = text(&v, "company.legal_name", in.Company.LegalName, MaxLegalNameLength, true)
	c.company.SIRET = siret(&v, "company.siret", in.Company.SIRET)
	c.company.ReferentName = text(&v, "company.referent_name", in.Company.ReferentName, MaxLegalNameLength, true)
	c.company.ReferentEmail = email(&v, "company.referent_email", in.Company.ReferentEmail)

	c.invoiceContact.Phone = phone(&v, "invoice_contact.phone", in.InvoiceContact.Phone)
	c.invoiceContact.Email = email(&v, "invoice_contact.email", in.InvoiceContact.Email)

	c.supportContact.Phone = phone(&v, "support_contact.phone", in.SupportContact.Phone)
	c.supportContact.Email = email(&v, "support_contact.email", in.SupportContact.Email)
	c.supportContact.Hours = text(&v, "support_contact.hours", in.SupportContact.Hours, MaxHoursLength, false)

	var err error
	if c.referent, err = identity.NewRegistration(in.Referent); err != nil {
		v.Merge("referent.", err)
	}
	if err := v.Err(); err != nil {
		return Creation{}, err
	}
	return c, nil
}

// Referent returns the validated referent user: the caller registers the
// identity, or finds the one owning its email (SPEC §1), before Create.
func (c Creation) Referent() identity.Registration { return c.referent }

// IsZero reports whether c was not made by NewCreation.
func (c Creation) IsZero() bool { return c.name == "" }

// text trims s and checks it is present if required, at most max
// characters and printable.
func text(v *domain.ValidationError, field, s string, max int, required bool) string {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		if required {
			v.Add(field, "required", "this field is required")
		}
	case utf8.RuneCountInString(s) > max:
		v.Add(field, "too_long", "at most %d characters", max)
	case !printable(s):
		v.Add(field, "invalid_chars", "only printable characters")
	}
	return s
}

func printable(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return false
		}
	}
	return true
}

func siret(v *domain.ValidationError, field, s string) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	switch {
	case s == "":
		v.Add(field, "required", "a SIRET is required")
	case len(s) != 14 || strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' }) >= 0:
		v.Add(field, "invalid", "a SIRET is 14 digits")
	case !validSIRET(s):
		v.Add(field, "invalid_checksum", "this SIRET's check digit is wrong")
	}
	return s
}

func email(v *domain.ValidationError, field, s string) string {
	e, err := identity.NewEmail(s)
	renamed(v, field, err)
	return e.String()
}

func phone(v *domain.ValidationError, field, s string) string {
	p, err := identity.NewPhone(s)
	renamed(v, field, err)
	return p.String()
}

// renamed adds the problems of err to v under field.
func renamed(v *domain.ValidationError, field string, err error) {
	var ve *domain.ValidationError
	if !errors.As(err, &ve) {
		return
	}
	for _, fe := range ve.Errors {
		v.Add(field, fe.Code, "%s", fe.Message)
	}
}
