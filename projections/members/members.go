// Package members is the read model of who is who: identities, contracts
// and the members of each contract with their profiles and console roles.
// The rights check of every contract endpoint reads it.
package members

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/contract"
	"selfcare/domain/identity"
	"selfcare/domain/membership"
	"selfcare/domain/registry"
	"selfcare/eventstore"
	"selfcare/projections"
)

// Name of the projector; its tables are in schema rm_members.
const Name = "members"

const schema = `
CREATE TABLE identities (
    login_key     text PRIMARY KEY,
    login         text NOT NULL,
    email         text NOT NULL,
    email_key     text NOT NULL,
    civility      text NOT NULL,
    last_name     text NOT NULL,
    first_name    text NOT NULL,
    phone         text NOT NULL,
    mobile        text NOT NULL,
    language      text NOT NULL,
    registered_at timestamptz NOT NULL,
    has_password  boolean NOT NULL DEFAULT false,
    -- a change of email waiting for its link (SPEC §10)
    pending_email         text,
    pending_email_expires timestamptz,
    version       bigint NOT NULL
);
CREATE INDEX identities_email ON identities (email_key);

CREATE TABLE contracts (
    id              text PRIMARY KEY,
    name            text NOT NULL,
    offer           text NOT NULL,
    platform_id     text NOT NULL,
    created_on      date NOT NULL,
    created_at      timestamptz NOT NULL,
    company         jsonb NOT NULL,
    invoice_contact jsonb NOT NULL,
    support_contact jsonb NOT NULL,
    referent_login  text NOT NULL,
    console_groups  text[] NOT NULL DEFAULT '{}'
);

CREATE TABLE members (
    contract_id     text NOT NULL,
    login_key       text NOT NULL,
    login           text NOT NULL,
    referent        boolean NOT NULL,
    profiles        jsonb NOT NULL,
    console         text[] NOT NULL,
    added_at        timestamptz NOT NULL,
    added_by        text NOT NULL,
    incidents       boolean NOT NULL DEFAULT false,
    change_requests boolean NOT NULL DEFAULT false,
    version         bigint NOT NULL,
    PRIMARY KEY (contract_id, login_key)
);
CREATE INDEX members_login ON members (login_key);
`

// Projector returns the members projector.
func Projector(reg *registry.Registry) projections.Projector {
	return projections.Projector{
		Name:    Name,
		Version: 2,
		Schema:  schema,
		Types: []string{
			"IdentityRegistered", "ProfileUpdated", "PasswordSet", "EmailChangeRequested",
			"ContractCreated", "ConsoleGroupCreated",
			"UserAddedToContract", "RolesChanged", "UserRemovedFromContract",
			"ConsoleAccountProvisioned", "ConsoleAccountUpdated", "ConsoleAccountDeprovisioned",
			"ExternalAccountsSet",
		},
		Handle: projections.Decoded(reg, apply),
	}
}

func apply(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
	var err error
	switch e := e.(type) {
	case identity.IdentityRegistered:
		p := e.ProfileData
		_, err = tx.Exec(ctx, `
INSERT INTO identities (login_key, login, email, email_key, civility, last_name, first_name, phone, mobile, language, registered_at, version)
VALUES ($1, $2, $3, lower($3), $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (login_key) DO NOTHING`,
			identity.LoginKey(e.Login), e.Login, p.Email, p.Civility, p.LastName, p.FirstName, p.Phone, p.Mobile, p.Language, e.RegisteredAt, rec.Version)
	case identity.ProfileUpdated:
		p := e.After
		_, err = tx.Exec(ctx, `
UPDATE identities SET email = $2, email_key = lower($2), civility = $3, last_name = $4, first_name = $5,
       phone = $6, mobile = $7, language = $8, version = $9,
       pending_email = CASE WHEN $10 THEN NULL ELSE pending_email END,
       pending_email_expires = CASE WHEN $10 THEN NULL ELSE pending_email_expires END
WHERE login_key = $1`,
			identity.LoginKey(e.Login), p.Email, p.Civility, p.LastName, p.FirstName, p.Phone, p.Mobile, p.Language, rec.Version,
			!strings.EqualFold(e.Before.Email, e.After.Email))
	case identity.EmailChangeRequested:
		_, err = tx.Exec(ctx, `UPDATE identities SET pending_email = $2, pending_email_expires = $3, version = $4 WHERE login_key = $1`,
			identity.LoginKey(e.Login), e.Email, e.ExpiresAt, rec.Version)
	case identity.PasswordSet:
		_, err = tx.Exec(ctx, `UPDATE identities SET has_password = true, version = $2 WHERE login_key = $1`, identity.LoginKey(e.Login), rec.Version)
	case contract.ContractCreated:
		var company, invoice, support []byte
		if company, err = json.Marshal(e.Company); err == nil {
			if invoice, err = json.Marshal(e.InvoiceContact); err == nil {
				support, err = json.Marshal(e.SupportContact)
			}
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
INSERT INTO contracts (id, name, offer, platform_id, created_on, created_at, company, invoice_contact, support_contact, referent_login)
VALUES ($1, $2, $3, $4, $5::date, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO NOTHING`,
			e.ID, e.Name, e.Offer, e.PlatformID, e.CreatedOn, e.CreatedAt, company, invoice, support, e.ReferentLogin)
	case contract.ConsoleGroupCreated:
		_, err = tx.Exec(ctx, `UPDATE contracts SET console_groups = array_append(console_groups, $2) WHERE id = $1 AND NOT $2 = ANY(console_groups)`,
			e.ContractID, e.Name)
	case membership.UserAddedToContract:
		var profiles []byte
		if profiles, err = json.Marshal(e.Profiles); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `
INSERT INTO members (contract_id, login_key, login, referent, profiles, console, added_at, added_by, version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (contract_id, login_key) DO UPDATE SET
    login = excluded.login, referent = excluded.referent, profiles = excluded.profiles, console = excluded.console,
    added_at = excluded.added_at, added_by = excluded.added_by, version = excluded.version`,
			e.ContractID, identity.LoginKey(e.Login), e.Login, e.Referent, profiles, e.Console.Names(), e.At, e.AddedBy, rec.Version)
	case membership.RolesChanged:
		var profiles []byte
		if profiles, err = json.Marshal(e.After.Profiles); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE members SET profiles = $3, console = $4, version = $5 WHERE contract_id = $1 AND login_key = $2`,
			e.ContractID, identity.LoginKey(e.Login), profiles, e.After.Console.Names(), rec.Version)
	case membership.UserRemovedFromContract:
		_, err = tx.Exec(ctx, `DELETE FROM members WHERE contract_id = $1 AND login_key = $2`, e.ContractID, identity.LoginKey(e.Login))
	case membership.ExternalAccountsSet:
		_, err = tx.Exec(ctx, `UPDATE members SET incidents = $3, change_requests = $4, version = $5 WHERE contract_id = $1 AND login_key = $2`,
			e.ContractID, identity.LoginKey(e.Login), e.Incidents, e.ChangeRequests, rec.Version)
	case membership.ConsoleAccountProvisioned:
		err = bumpVersion(ctx, tx, e.ContractID, e.Login, rec.Version)
	case membership.ConsoleAccountUpdated:
		err = bumpVersion(ctx, tx, e.ContractID, e.Login, rec.Version)
	case membership.ConsoleAccountDeprovisioned:
		err = bumpVersion(ctx, tx, e.ContractID, e.Login, rec.Version)
	default:
		return fmt.Errorf("members: unexpected event %T", e)
	}
	return err
}

// bumpVersion keeps the member's version (its ETag) equal to its stream's.
func bumpVersion(ctx context.Context, tx pgx.Tx, contractID, login string, version int64) error {
	_, err := tx.Exec(ctx, `UPDATE members SET version = $3 WHERE contract_id = $1 AND login_key = $2 AND version < $3`,
		contractID, identity.LoginKey(login), version)
	return err
}
