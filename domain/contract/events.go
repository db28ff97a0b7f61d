package contract

import (
	"time"

	"selfcare/domain"
)

// Company is the customer company of a contract.
type Company struct {
	LegalName     string `json:"legal_name"`
	SIRET         string `json:"siret"`
	ReferentName  string `json:"referent_name"`
	ReferentEmail string `json:"referent_email"`
}

// Contact is a service's phone and email (the invoice-reception service).
type Contact struct {
	Phone string `json:"phone"`
	Email string `json:"email"`
}

// SupportContact is the support centre's phone, email and opening hours.
type SupportContact struct {
	Phone string `json:"phone"`
	Email string `json:"email"`
	Hours string `json:"hours"`
}

// ContractCreated: the back office created a contract and named its
// referent user (whose membership is recorded in the membership stream).
type ContractCreated struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Offer          string         `json:"offer"`
	PlatformID     string         `json:"platform_id"`
	CreatedOn      string         `json:"created_on"` // YYYY-MM-DD
	CreatedAt      time.Time      `json:"created_at"`
	Company        Company        `json:"company"`
	InvoiceContact Contact        `json:"invoice_contact"`
	SupportContact SupportContact `json:"support_contact"`
	ReferentLogin  string         `json:"referent_login"`
}

// ConsoleGroupCreated: a console user group now exists on the contract and
// can be given as a console role.
type ConsoleGroupCreated struct {
	ContractID string    `json:"contract_id"`
	Name       string    `json:"name"`
	At         time.Time `json:"at"`
}

// EventType implementations: the stored names (API.md "Event types").
func (ContractCreated) EventType() string     { return "ContractCreated" }
func (ConsoleGroupCreated) EventType() string { return "ConsoleGroupCreated" }

// EventTypes lists the events of this package for the central registry.
var EventTypes = []domain.EventType{
	{Name: "ContractCreated", Version: 1, Decode: domain.DecodeJSON[ContractCreated]},
	{Name: "ConsoleGroupCreated", Version: 1, Decode: domain.DecodeJSON[ConsoleGroupCreated]},
}
