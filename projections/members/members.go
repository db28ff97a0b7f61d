// Package members is the read model of who is who: identities, contracts
// and the members of each contract with their profiles and console roles.
// The rights check of every contract endpoint reads it.
package members

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

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
		Bulk: func() projections.Builder {
			b := newBuilder()
			return projections.DecodedBuilder(reg, b.apply, b.rows)
		},
	}
}

func apply(ctx context.Context, tx pgx.Tx, rec eventstore.Record, e domain.Event) error {
	var err error
	switch e := e.(type) {
	case identity.IdentityRegistered:
		p := e.ProfileData
		_, err = tx.Exec(ctx, `
INSERT INTO identities (login_key, login, email, email_key, civility, last_name, first_name, phone, mobile, language, registered_at, version)
VALUES ($1, $2, $3, $12, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (login_key) DO NOTHING`,
			identity.LoginKey(e.Login), e.Login, p.Email, p.Civility, p.LastName, p.FirstName, p.Phone, p.Mobile, p.Language, e.RegisteredAt, rec.Version, emailKey(p.Email))
	case identity.ProfileUpdated:
		p := e.After
		_, err = tx.Exec(ctx, `
UPDATE identities SET email = $2, email_key = $11, civility = $3, last_name = $4, first_name = $5,
       phone = $6, mobile = $7, language = $8, version = $9,
       pending_email = CASE WHEN $10 THEN NULL ELSE pending_email END,
       pending_email_expires = CASE WHEN $10 THEN NULL ELSE pending_email_expires END
WHERE login_key = $1`,
			identity.LoginKey(e.Login), p.Email, p.Civility, p.LastName, p.FirstName, p.Phone, p.Mobile, p.Language, rec.Version,
			!strings.EqualFold(e.Before.Email, e.After.Email), emailKey(p.Email))
	case identity.EmailChangeRequested:
		_, err = tx.Exec(ctx, `UPDATE identities SET pending_email = $2, pending_email_expires = $3, version = $4 WHERE login_key = $1`,
			identity.LoginKey(e.Login), e.Email, e.ExpiresAt, rec.Version)
	case identity.PasswordSet:
		_, err = tx.Exec(ctx, `UPDATE identities SET has_password = true, version = $2 WHERE login_key = $1`, identity.LoginKey(e.Login), rec.Version)
	case contract.ContractCreated:
		values, verr := contractValues(e)
		if verr != nil {
			return verr
		}
		_, err = tx.Exec(ctx, `
INSERT INTO contracts (id, name, offer, platform_id, created_on, created_at, company, invoice_contact, support_contact, referent_login)
VALUES ($1, $2, $3, $4, $5::date, $6, $7, $8, $9, $10)
ON CONFLICT (id) DO NOTHING`, values...)
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

// contractValues are the values of a created contract's row, console
// groups aside.
func contractValues(e contract.ContractCreated) ([]any, error) {
	company, err := json.Marshal(e.Company)
	if err != nil {
		return nil, err
	}
	invoice, err := json.Marshal(e.InvoiceContact)
	if err != nil {
		return nil, err
	}
	support, err := json.Marshal(e.SupportContact)
	if err != nil {
		return nil, err
	}
	return []any{e.ID, e.Name, e.Offer, e.PlatformID, e.CreatedOn, e.CreatedAt, company, invoice, support, e.ReferentLogin}, nil
}

// emailKey is what the identities are sorted by email on.
func emailKey(email string) string { return strings.ToLower(email) }

// bumpVersion keeps the member's version (its ETag) equal to its stream's.
func bumpVersion(ctx context.Context, tx pgx.Tx, contractID, login string, version int64) error {
	_, err := tx.Exec(ctx, `UPDATE members SET version = $3 WHERE contract_id = $1 AND login_key = $2 AND version < $3`,
		contractID, identity.LoginKey(login), version)
	return err
}

// builder is the rebuild's fold: identities, contracts and members as
// they are at the end, written then. Each case does what the statement
// of apply does.
type builder struct {
	identities map[string]*identityRow
	contracts  map[string]*contractRow
	members    map[[2]string]*memberRow
}

func newBuilder() *builder {
	return &builder{identities: map[string]*identityRow{}, contracts: map[string]*contractRow{}, members: map[[2]string]*memberRow{}}
}

type identityRow struct {
	loginKey, login string
	p               identity.ProfileData
	registeredAt    time.Time
	hasPassword     bool
	pendingEmail    *string
	pendingExpires  *time.Time
	version         int64
}

var identityColumns = []string{"login_key", "login", "email", "email_key", "civility", "last_name", "first_name", "phone", "mobile",
	"language", "registered_at", "has_password", "pending_email", "pending_email_expires", "version"}

func (i *identityRow) values() []any {
	return []any{i.loginKey, i.login, i.p.Email, emailKey(i.p.Email), i.p.Civility, i.p.LastName, i.p.FirstName, i.p.Phone, i.p.Mobile,
		i.p.Language, i.registeredAt, i.hasPassword, i.pendingEmail, i.pendingExpires, i.version}
}

type contractRow struct {
	values []any // contractColumns but console_groups
	groups []string
}

var contractColumns = []string{"id", "name", "offer", "platform_id", "created_on", "created_at", "company", "invoice_contact",
	"support_contact", "referent_login", "console_groups"}

type memberRow struct {
	contractID, loginKey, login string
	referent                    bool
	profiles                    []byte
	console                     []string
	addedAt                     time.Time
	addedBy                     string
	incidents, changeRequests   bool
	version                     int64
}

var memberColumns = []string{"contract_id", "login_key", "login", "referent", "profiles", "console", "added_at", "added_by",
	"incidents", "change_requests", "version"}

func (m *memberRow) values() []any {
	console := m.console
	if console == nil {
		console = []string{}
	}
	return []any{m.contractID, m.loginKey, m.login, m.referent, m.profiles, console, m.addedAt, m.addedBy, m.incidents, m.changeRequests, m.version}
}

func (b *builder) apply(ev *projections.Stored, e domain.Event) error {
	version := ev.Version
	member := func(cid, login string) *memberRow { return b.members[[2]string{cid, identity.LoginKey(login)}] }
	switch e := e.(type) {
	case identity.IdentityRegistered:
		key := identity.LoginKey(e.Login)
		if b.identities[key] == nil {
			b.identities[key] = &identityRow{loginKey: key, login: e.Login, p: e.ProfileData, registeredAt: e.RegisteredAt, version: version}
		}
	case identity.ProfileUpdated:
		if i := b.identities[identity.LoginKey(e.Login)]; i != nil {
			i.p, i.version = e.After, version
			if !strings.EqualFold(e.Before.Email, e.After.Email) {
				i.pendingEmail, i.pendingExpires = nil, nil
			}
		}
	case identity.EmailChangeRequested:
		if i := b.identities[identity.LoginKey(e.Login)]; i != nil {
			email, expires := e.Email, e.ExpiresAt
			i.pendingEmail, i.pendingExpires, i.version = &email, &expires, version
		}
	case identity.PasswordSet:
		if i := b.identities[identity.LoginKey(e.Login)]; i != nil {
			i.hasPassword, i.version = true, version
		}
	case contract.ContractCreated:
		if b.contracts[e.ID] == nil {
			values, err := contractValues(e)
			if err != nil {
				return err
			}
			b.contracts[e.ID] = &contractRow{values: values}
		}
	case contract.ConsoleGroupCreated:
		if c := b.contracts[e.ContractID]; c != nil && !slices.Contains(c.groups, e.Name) {
			c.groups = append(c.groups, e.Name)
		}
	case membership.UserAddedToContract:
		profiles, err := json.Marshal(e.Profiles)
		if err != nil {
			return err
		}
		key := [2]string{e.ContractID, identity.LoginKey(e.Login)}
		m := b.members[key]
		if m == nil {
			m = &memberRow{contractID: e.ContractID, loginKey: key[1]}
			b.members[key] = m
		}
		m.login, m.referent, m.profiles, m.console, m.addedAt, m.addedBy, m.version =
			e.Login, e.Referent, profiles, e.Console.Names(), e.At, e.AddedBy, version
	case membership.RolesChanged:
		if m := member(e.ContractID, e.Login); m != nil {
			profiles, err := json.Marshal(e.After.Profiles)
			if err != nil {
				return err
			}
			m.profiles, m.console, m.version = profiles, e.After.Console.Names(), version
		}
	case membership.UserRemovedFromContract:
		delete(b.members, [2]string{e.ContractID, identity.LoginKey(e.Login)})
	case membership.ExternalAccountsSet:
		if m := member(e.ContractID, e.Login); m != nil {
			m.incidents, m.changeRequests, m.version = e.Incidents, e.ChangeRequests, version
		}
	case membership.ConsoleAccountProvisioned:
		b.bumpVersion(member(e.ContractID, e.Login), version)
	case membership.ConsoleAccountUpdated:
		b.bumpVersion(member(e.ContractID, e.Login), version)
	case membership.ConsoleAccountDeprovisioned:
		b.bumpVersion(member(e.ContractID, e.Login), version)
	default:
		return fmt.Errorf("members: unexpected event %T", e)
	}
	return nil
}

func (b *builder) bumpVersion(m *memberRow, version int64) {
	if m != nil && m.version < version {
		m.version = version
	}
}

func (b *builder) rows(final bool) []projections.Rows {
	if !final {
		return nil
	}
	identities := make([][]any, 0, len(b.identities))
	for _, i := range b.identities {
		identities = append(identities, i.values())
	}
	contracts := make([][]any, 0, len(b.contracts))
	for _, c := range b.contracts {
		groups := c.groups
		if groups == nil {
			groups = []string{}
		}
		contracts = append(contracts, append(slices.Clip(c.values), groups))
	}
	members := make([][]any, 0, len(b.members))
	for _, m := range b.members {
		members = append(members, m.values())
	}
	*b = *newBuilder()
	return []projections.Rows{
		{Table: "identities", Columns: identityColumns, Values: identities},
		{Table: "contracts", Columns: contractColumns, Values: contracts},
		{Table: "members", Columns: memberColumns, Values: members},
	}
}
