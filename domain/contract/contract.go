// Package contract holds the contract (the tenant): its identifiers,
// company and contacts, referent user and console groups.
package contract

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"selfcare/domain"
	"selfcare/domain/access"
)

// Errors of the contract decisions.
var (
	// ErrContractExists: a contract with this id was already created.
	ErrContractExists = fmt.Errorf("%w: this contract already exists", domain.ErrConflict)
	// ErrConsoleGroupExists: the contract has a console group of that name
	// (ignoring case).
	ErrConsoleGroupExists = fmt.Errorf("%w: a console group of this name exists", domain.ErrConflict)
	// ErrReservedConsoleRole: the name is a predefined console role.
	ErrReservedConsoleRole = fmt.Errorf("%w: admin, power_user and guest are predefined console roles", domain.ErrConflict)
)

// Stream returns the name of the event stream of contract id.
func Stream(id string) string { return "contract-" + id }

// Contract is the state of one contract, folded from its stream. The zero
// value is a contract not created yet.
type Contract struct {
	created        bool
	id             string
	name           string
	offer          string
	platformID     string
	createdOn      string
	company        Company
	invoiceContact Contact
	supportContact SupportContact
	referentLogin  string
	groups         []string
	version        int
}

// Replay folds events into a new Contract.
func Replay(events []domain.Event) Contract {
	var c Contract
	for _, e := range events {
		c.Apply(e)
	}
	return c
}

// Apply folds one event of the contract's stream.
func (c *Contract) Apply(e domain.Event) {
	c.version++
	switch e := e.(type) {
	case ContractCreated:
		c.created = true
		c.id, c.name, c.offer, c.platformID, c.createdOn = e.ID, e.Name, e.Offer, e.PlatformID, e.CreatedOn
		c.company, c.invoiceContact, c.supportContact = e.Company, e.InvoiceContact, e.SupportContact
		c.referentLogin = e.ReferentLogin
	case ConsoleGroupCreated:
		c.groups = append(c.groups, e.Name)
	}
}

// Exists reports whether the contract was created.
func (c Contract) Exists() bool { return c.created }

// ID returns the contract id ("OCB0000124").
func (c Contract) ID() string { return c.id }

// Name returns the contract's name ("SL_Prod").
func (c Contract) Name() string { return c.name }

// Offer returns the offer ("Flexible Engine").
func (c Contract) Offer() string { return c.offer }

// PlatformID returns the console's domain id (32 lowercase hex digits).
func (c Contract) PlatformID() string { return c.platformID }

// CreatedOn returns the creation date, YYYY-MM-DD.
func (c Contract) CreatedOn() string { return c.createdOn }

// Company returns the customer company.
func (c Contract) Company() Company { return c.company }

// InvoiceContact returns the invoice-reception contact.
func (c Contract) InvoiceContact() Contact { return c.invoiceContact }

// SupportContact returns the support-centre contact.
func (c Contract) SupportContact() SupportContact { return c.supportContact }

// ReferentLogin returns the login of the referent user.
func (c Contract) ReferentLogin() string { return c.referentLogin }

// IsReferent reports whether login (ignoring case) is the referent.
func (c Contract) IsReferent(login string) bool {
	return c.created && strings.EqualFold(c.referentLogin, login)
}

// ConsoleGroups returns the names of the contract's console groups, in
// creation order; pass them to access.NewConsoleRoles.
func (c Contract) ConsoleGroups() []string { return append([]string(nil), c.groups...) }

// Version returns the number of events folded: the expected version for
// the next append to the stream.
func (c Contract) Version() int { return c.version }

// Create creates the contract from a validated command. The caller has
// allocated id (FormatContractID), drawn platformID (NewPlatformID) and
// resolved referentLogin: the identity registered for the referent, or the
// existing identity owning its email. createdAt gives the creation date in
// its own location. It returns ErrContractExists if the stream already
// holds a contract, and a *domain.ValidationError for a malformed id,
// platform id or referent login.
func (c Contract) Create(cmd Creation, id, platformID, referentLogin string, createdAt time.Time) ([]domain.Event, error) {
	if c.created {
		return nil, ErrContractExists
	}
	var v domain.ValidationError
	if !ValidContractID(id) {
		v.Add("id", "invalid", "a contract id is OCB and 7 digits")
	}
	if !ValidPlatformID(platformID) {
		v.Add("platform_id", "invalid", "a platform id is 32 lowercase hex digits")
	}
	if strings.TrimSpace(referentLogin) == "" {
		v.Add("referent.login", "required", "the contract needs a referent user")
	}
	if cmd.IsZero() {
		v.Add("name", "required", "the command was not validated")
	}
	if err := v.Err(); err != nil {
		return nil, err
	}
	return []domain.Event{ContractCreated{
		ID:             id,
		Name:           cmd.name,
		Offer:          cmd.offer,
		PlatformID:     platformID,
		CreatedOn:      createdAt.Format(time.DateOnly),
		CreatedAt:      createdAt.UTC(),
		Company:        cmd.company,
		InvoiceContact: cmd.invoiceContact,
		SupportContact: cmd.supportContact,
		ReferentLogin:  referentLogin,
	}}, nil
}

// MaxConsoleGroupNameLength bounds console group names.
const MaxConsoleGroupNameLength = 64

// NewConsoleGroupName validates a console group name (surrounding spaces
// ignored): 1 to 64 letters, digits, "_", "-", "." or spaces. It returns a
// *domain.ValidationError on field "name": "required", "too_long" or
// "invalid_chars".
func NewConsoleGroupName(s string) (string, error) {
	s = strings.TrimSpace(s)
	switch {
	case s == "":
		return "", domain.Invalid("name", "required", "a group name is required")
	case utf8.RuneCountInString(s) > MaxConsoleGroupNameLength:
		return "", domain.Invalid("name", "too_long", "a group name has at most %d characters", MaxConsoleGroupNameLength)
	}
	for _, r := range s {
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune("_-. ", r) {
			return "", domain.Invalid("name", "invalid_chars", "a group name has only letters, digits, _ - . and spaces")
		}
	}
	return s, nil
}

// CreateConsoleGroup adds a console group, selectable as a console role of
// the contract. It returns domain.ErrNotFound if the contract does not
// exist, a *domain.ValidationError for a bad name (NewConsoleGroupName),
// ErrReservedConsoleRole for a predefined role's name and
// ErrConsoleGroupExists for a name the contract has (both ignoring case).
func (c Contract) CreateConsoleGroup(name string, now time.Time) ([]domain.Event, error) {
	if !c.created {
		return nil, domain.ErrNotFound
	}
	name, err := NewConsoleGroupName(name)
	if err != nil {
		return nil, err
	}
	if access.IsPredefinedConsoleRole(name) {
		return nil, ErrReservedConsoleRole
	}
	for _, g := range c.groups {
		if strings.EqualFold(g, name) {
			return nil, ErrConsoleGroupExists
		}
	}
	return []domain.Event{ConsoleGroupCreated{ContractID: c.id, Name: name, At: now.UTC()}}, nil
}
