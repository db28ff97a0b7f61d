// Package order is the ordering of catalog services by a contract: placing
// an order under a per-contract reference, then completing or rejecting it.
//
// # Streams and references
//
// All the events of a contract's orders go to one stream per contract
// (for instance "orders-OCB0000124"): OrderPlaced, OrderCompleted and
// OrderRejected of every order of that contract. This is what makes
// references unique and sequential without a second stream:
//
//  1. load the contract's order stream, at version v, and fold it into a
//     Counter: seq := counter.Next();
//  2. quote the request (catalog.Quote), decide with Place(cmd, quote, seq,
//     ContractCode(id, name), now);
//  3. append the events to the same stream expecting version v. If another
//     order was placed meanwhile, the append fails with a version conflict:
//     go back to 1 (the retry gets the next number).
//
// Two concurrent orders can therefore never get the same number, and since
// numbering and placement are one append, a crash cannot leave a gap. To
// complete or reject an order, find the contract from its reference
// (ParseRef), load that stream into For(ref), decide, and append expecting
// the loaded version, retrying on conflict likewise.
//
// Step 1 need not read every order: the command side folds the Counter
// from its snapshot (see snapshot.go), and loads For(ref) from the order's
// own events only (found by an index of the order stream), so placing or
// completing order #N costs the same for every N.
package order

import (
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"selfcare/domain"
	"selfcare/domain/catalog"
	"selfcare/domain/money"
)

// Status is where an order is in its life.
type Status string

// The statuses of an order: in_progress, then completed or rejected.
const (
	StatusInProgress Status = "in_progress"
	StatusCompleted  Status = "completed"
	StatusRejected   Status = "rejected"
)

// Contact is the person to call to carry out the order.
type Contact struct {
	Name  string `json:"name"`
	Email string `json:"email,omitempty"`
	Phone string `json:"phone,omitempty"`
}

// OrderPlaced: a contract manager validated an order, definitively.
type OrderPlaced struct {
	Ref string `json:"ref"`
	// Seq is the order's number among the contract's orders (1, 2, ...).
	Seq         int    `json:"seq"`
	ContractID  string `json:"contract_id"`
	ServiceCode string `json:"service_code"`
	ServiceName string `json:"service_name"`
	// SubscriptionName is set for reservations: the name of the
	// subscription the order creates once completed.
	SubscriptionName string       `json:"subscription_name,omitempty"`
	Kind             catalog.Kind `json:"kind"`
	// Parameters are the order's parameters in canonical form (region,
	// flavor, duration_months, upfront, ...).
	Parameters map[string]string `json:"parameters"`
	// Price: the one-off price, the monthly price of a reservation, or 0.
	Price          money.Amount  `json:"price"`
	MonthlyPrice   *money.Amount `json:"monthly_price,omitempty"`
	InitialPayment *money.Amount `json:"initial_payment,omitempty"`
	DurationMonths int           `json:"duration_months,omitempty"`
	// PlacedBy is the login of the user who placed the order.
	PlacedBy string    `json:"placed_by"`
	PlacedAt time.Time `json:"placed_at"`
	Contact  *Contact  `json:"contact,omitempty"`
}

// OrderCompleted: the back office fulfilled the order.
type OrderCompleted struct {
	Ref         string    `json:"ref"`
	ContractID  string    `json:"contract_id"`
	CompletedAt time.Time `json:"completed_at"`
}

// OrderRejected: the back office refused the order.
type OrderRejected struct {
	Ref        string    `json:"ref"`
	ContractID string    `json:"contract_id"`
	RejectedAt time.Time `json:"rejected_at"`
	Reason     string    `json:"reason,omitempty"`
}

// EventType implements domain.Event.
func (OrderPlaced) EventType() string { return "OrderPlaced" }

// EventType implements domain.Event.
func (OrderCompleted) EventType() string { return "OrderCompleted" }

// EventType implements domain.Event.
func (OrderRejected) EventType() string { return "OrderRejected" }

// Name is what the order is called in lists: the subscription name of a
// reservation, else the service name.
func (e OrderPlaced) Name() string {
	if e.SubscriptionName != "" {
		return e.SubscriptionName
	}
	return e.ServiceName
}

// EventTypes are the stored event types of this package.
var EventTypes = []domain.EventType{
	{Name: "OrderPlaced", Version: 1, Decode: domain.DecodeJSON[OrderPlaced]},
	{Name: "OrderCompleted", Version: 1, Decode: domain.DecodeJSON[OrderCompleted]},
	{Name: "OrderRejected", Version: 1, Decode: domain.DecodeJSON[OrderRejected]},
}

// PlaceOrder is a request to order a service for a contract. What is
// ordered, with which parameters and at which price, is the catalog's
// Quote passed to Place alongside.
type PlaceOrder struct {
	ContractID  string
	ServiceCode string
	// PlacedBy is the login of the user placing the order.
	PlacedBy string
	Contact  *Contact
}

// Limits of free-text fields.
const (
	maxNameLen   = 100
	maxReasonLen = 500
)

// Place decides a new order: the seq-th of the contract, referenced
// FormatRef(contractCode, now, seq), in progress, at the quote's price. seq
// comes from the contract's Counter (see the package comment for how the
// caller keeps it unique).
//
// It returns a *domain.ValidationError for a bad contract id ("contract_id"),
// a missing placer ("placed_by") or a bad contact ("contact.name",
// "contact.email", "contact.phone"), and a plain error for caller mistakes
// (seq < 1, a malformed contract code, a quote for another service).
func Place(cmd PlaceOrder, quote catalog.Quote, seq int, contractCode string, now time.Time) ([]domain.Event, error) {
	if seq < 1 {
		return nil, fmt.Errorf("order: sequence number %d, want 1 or more", seq)
	}
	if !validContractCode(contractCode) {
		return nil, fmt.Errorf("order: malformed contract code %q", contractCode)
	}
	if quote.ServiceCode == "" || quote.ServiceCode != cmd.ServiceCode {
		return nil, fmt.Errorf("order: quote for service %q, order for %q", quote.ServiceCode, cmd.ServiceCode)
	}
	var v domain.ValidationError
	if !validContractID(cmd.ContractID) {
		v.Add("contract_id", "invalid", "a contract id is OCB and 7 digits")
	}
	if strings.TrimSpace(cmd.PlacedBy) == "" {
		v.Add("placed_by", "required", "the login of the user placing the order is required")
	}
	contact := validateContact(&v, cmd.Contact)
	if err := v.Err(); err != nil {
		return nil, err
	}

	now = now.UTC()
	params := make(map[string]string, len(quote.Parameters))
	for k, val := range quote.Parameters {
		params[k] = val
	}
	return []domain.Event{OrderPlaced{
		Ref:              FormatRef(contractCode, now, seq),
		Seq:              seq,
		ContractID:       cmd.ContractID,
		ServiceCode:      quote.ServiceCode,
		ServiceName:      quote.ServiceName,
		SubscriptionName: quote.SubscriptionName,
		Kind:             quote.Kind,
		Parameters:       params,
		Price:            quote.Price,
		MonthlyPrice:     copyAmount(quote.MonthlyPrice),
		InitialPayment:   copyAmount(quote.InitialPayment),
		DurationMonths:   quote.DurationMonths,
		PlacedBy:         cmd.PlacedBy,
		PlacedAt:         now,
		Contact:          contact,
	}}, nil
}

func copyAmount(a *money.Amount) *money.Amount {
	if a == nil {
		return nil
	}
	c := *a
	return &c
}

func validContractID(id string) bool {
	return len(id) == 10 && strings.HasPrefix(id, "OCB") && allDigits(id[3:])
}

// validateContact records the contact's problems in v and returns it
// trimmed. A contact has a name, and an email or a phone (or both).
func validateContact(v *domain.ValidationError, c *Contact) *Contact {
	if c == nil {
		return nil
	}
	out := &Contact{
		Name:  strings.TrimSpace(c.Name),
		Email: strings.TrimSpace(c.Email),
		Phone: strings.TrimSpace(c.Phone),
	}
	switch {
	case out.Name == "":
		v.Add("contact.name", "required", "the contact's name is required")
	case utf8.RuneCountInString(out.Name) > maxNameLen:
		v.Add("contact.name", "too_long", "at most %d characters", maxNameLen)
	}
	if out.Email == "" && out.Phone == "" {
		v.Add("contact.email", "required", "an email or a phone number is required")
	}
	if out.Email != "" {
		if a, err := mail.ParseAddress(out.Email); err != nil || a.Address != out.Email {
			v.Add("contact.email", "invalid", "not an email address")
		}
	}
	if out.Phone != "" && !validPhone(out.Phone) {
		v.Add("contact.phone", "invalid", "a phone number has 6 to 15 digits, with an optional leading +, spaces, dots, dashes or parentheses")
	}
	return out
}

func validPhone(p string) bool {
	digits := 0
	for i, r := range p {
		switch {
		case r >= '0' && r <= '9':
			digits++
		case r == '+' && i == 0, r == ' ', r == '.', r == '-', r == '(', r == ')':
		default:
			return false
		}
	}
	return digits >= 6 && digits <= 15
}

// Order is one order, rebuilt from its events.
type Order struct {
	ref         string
	placed      OrderPlaced
	status      Status
	completedAt time.Time
	rejectedAt  time.Time
	reason      string
}

// For returns an empty order that, when events are applied, keeps only
// those of the order ref: use it to rebuild one order from the contract's
// stream. (A zero Order takes the ref of the first OrderPlaced it sees.)
func For(ref string) Order { return Order{ref: ref} }

// Apply folds an event into the order. Events of other orders, and events
// of other types, are ignored.
func (o *Order) Apply(e domain.Event) {
	switch e := e.(type) {
	case OrderPlaced:
		if (o.ref != "" && e.Ref != o.ref) || o.status != "" {
			return
		}
		o.ref = e.Ref
		o.placed = e
		o.status = StatusInProgress
	case OrderCompleted:
		if e.Ref == o.ref && o.status != "" {
			o.status = StatusCompleted
			o.completedAt = e.CompletedAt
		}
	case OrderRejected:
		if e.Ref == o.ref && o.status != "" {
			o.status = StatusRejected
			o.rejectedAt = e.RejectedAt
			o.reason = e.Reason
		}
	}
}

// Exists reports whether the order was placed.
func (o Order) Exists() bool { return o.status != "" }

// Ref returns the order's reference.
func (o Order) Ref() string { return o.ref }

// ContractID returns the contract the order was placed for.
func (o Order) ContractID() string { return o.placed.ContractID }

// Status returns the order's status ("" if it does not exist).
func (o Order) Status() Status { return o.status }

// Placed returns the facts of the order's placement: service, parameters,
// prices, who and when.
func (o Order) Placed() OrderPlaced { return o.placed }

// CompletedAt returns when the order was completed (zero if it was not).
func (o Order) CompletedAt() time.Time { return o.completedAt }

// RejectedAt returns when the order was rejected, and why.
func (o Order) RejectedAt() (time.Time, string) { return o.rejectedAt, o.reason }

// Complete decides that the order is fulfilled. It returns an error
// wrapping domain.ErrNotFound if the order does not exist, and
// domain.ErrConflict if it is not in progress (already completed, or
// rejected).
func (o Order) Complete(now time.Time) ([]domain.Event, error) {
	if err := o.mustBeInProgress("complete"); err != nil {
		return nil, err
	}
	return []domain.Event{OrderCompleted{Ref: o.ref, ContractID: o.placed.ContractID, CompletedAt: now.UTC()}}, nil
}

// Reject decides that the order is refused, for an optional reason (at most
// 500 characters). It returns a *domain.ValidationError for a too long
// reason ("reason"), an error wrapping domain.ErrNotFound if the order does
// not exist, and domain.ErrConflict if it is not in progress.
func (o Order) Reject(reason string, now time.Time) ([]domain.Event, error) {
	if err := o.mustBeInProgress("reject"); err != nil {
		return nil, err
	}
	reason = strings.TrimSpace(reason)
	if utf8.RuneCountInString(reason) > maxReasonLen {
		return nil, domain.Invalid("reason", "too_long", "at most %d characters", maxReasonLen)
	}
	return []domain.Event{OrderRejected{Ref: o.ref, ContractID: o.placed.ContractID, RejectedAt: now.UTC(), Reason: reason}}, nil
}

func (o Order) mustBeInProgress(verb string) error {
	switch o.status {
	case "":
		return fmt.Errorf("order %q: %w", o.ref, domain.ErrNotFound)
	case StatusInProgress:
		return nil
	default:
		return domain.Conflictf("cannot %s order %s: it is %s", verb, o.ref, o.status)
	}
}

// Counter gives the next sequence number of a contract's orders. Fold the
// contract's order stream into it (see the package comment).
type Counter struct {
	last int
}

// Apply folds an event; only OrderPlaced counts.
func (c *Counter) Apply(e domain.Event) {
	if p, ok := e.(OrderPlaced); ok && p.Seq > c.last {
		c.last = p.Seq
	}
}

// Next returns the number of the contract's next order: 1 for the first.
func (c Counter) Next() int { return c.last + 1 }
