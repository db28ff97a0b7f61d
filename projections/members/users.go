package members

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/jackc/pgx/v5"

	"selfcare/domain"
	"selfcare/domain/access"
	"selfcare/domain/identity"
	"selfcare/projections"
)

// User is a member of a contract as the users API shows them: who they are
// (from their identity) and what they hold on the contract.
type User struct {
	Login     string `json:"login"`
	LastName  string `json:"last_name"`
	FirstName string `json:"first_name"`
	Email     string `json:"email"`
	// CreatedOn is the day the user was (last) added to the contract.
	CreatedOn string              `json:"created_on"`
	Referent  bool                `json:"referent"`
	Profiles  access.Profiles     `json:"profiles"`
	Console   access.ConsoleRoles `json:"console"`

	Civility string `json:"civility"`
	Phone    string `json:"phone"`
	Mobile   string `json:"mobile"`
	Language string `json:"language"`
	// PasswordSet: the user has set a password (activated their access).
	PasswordSet      bool             `json:"password_set"`
	ExternalAccounts ExternalAccounts `json:"external_accounts"`
	AddedAt          time.Time        `json:"added_at"`
	AddedBy          string           `json:"added_by"`
	// Version is the membership stream's version: the user's ETag, for
	// If-Match on role changes and removal.
	Version int64 `json:"version"`

	sortValue string
	sortKey   string
}

// ExternalAccounts tells on which external applications the member has an
// account (set by the back office): they show the "open an incident" and
// "manage your services" links.
type ExternalAccounts struct {
	Incidents      bool `json:"incidents"`
	ChangeRequests bool `json:"change_requests"`
}

// ErrNoUser: the user is not declared on the contract.
var ErrNoUser = fmt.Errorf("%w: no such user on this contract", domain.ErrNotFound)

// UsersList is the list spec of the users and console users of a contract:
// searchable by login, names and email, sortable by every column shown.
var UsersList = usersList()

func usersList() projections.ListSpec {
	s := projections.ListSpec{
		Sortable: map[string]projections.Column{
			"login":        {Expr: "m.login_key", Type: "text"},
			"last_name":    {Expr: "coalesce(i.last_name, '')", Type: "text"},
			"first_name":   {Expr: "coalesce(i.first_name, '')", Type: "text"},
			"email":        {Expr: "coalesce(i.email_key, '')", Type: "text"},
			"created_on":   {Expr: "m.added_at", Type: "timestamptz"},
			"added_at":     {Expr: "m.added_at", Type: "timestamptz"},
			"referent":     {Expr: "m.referent", Type: "boolean"},
			"console":      {Expr: "array_to_string(m.console, ',')", Type: "text"},
			"civility":     {Expr: "coalesce(i.civility, '')", Type: "text"},
			"phone":        {Expr: "coalesce(i.phone, '')", Type: "text"},
			"mobile":       {Expr: "coalesce(i.mobile, '')", Type: "text"},
			"language":     {Expr: "coalesce(i.language, '')", Type: "text"},
			"password_set": {Expr: "coalesce(i.has_password, false)", Type: "boolean"},
		},
		DefaultSort: "login",
		Search:      []string{"m.login", "i.last_name", "i.first_name", "i.email"},
		Key:         projections.Column{Expr: "m.login_key", Type: "text"},
	}
	for _, sec := range access.Sections {
		s.Sortable["profiles."+string(sec)] = projections.Column{Expr: fmt.Sprintf("coalesce(m.profiles->>'%s', '')", sec), Type: "text"}
	}
	return s
}

const userColumns = `m.login, coalesce(i.last_name, ''), coalesce(i.first_name, ''), coalesce(i.email, ''),
       to_char(m.added_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), m.referent, m.profiles, m.console,
       coalesce(i.civility, ''), coalesce(i.phone, ''), coalesce(i.mobile, ''), coalesce(i.language, ''),
       coalesce(i.has_password, false), m.incidents, m.change_requests, m.added_at, m.added_by, m.version`

const userFrom = `
FROM rm_members.members m LEFT JOIN rm_members.identities i ON i.login_key = m.login_key
WHERE m.contract_id = $1`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	var profiles []byte
	var console []string
	dest := []any{&u.Login, &u.LastName, &u.FirstName, &u.Email, &u.CreatedOn, &u.Referent, &profiles, &console,
		&u.Civility, &u.Phone, &u.Mobile, &u.Language, &u.PasswordSet,
		&u.ExternalAccounts.Incidents, &u.ExternalAccounts.ChangeRequests, &u.AddedAt, &u.AddedBy, &u.Version}
	if err := row.Scan(append(dest, extra...)...); err != nil {
		return User{}, err
	}
	if err := json.Unmarshal(profiles, &u.Profiles); err != nil {
		return User{}, fmt.Errorf("profiles of %s: %w", u.Login, err)
	}
	u.Console = access.RestoreConsoleRoles(console)
	u.AddedAt = u.AddedAt.UTC()
	return u, nil
}

// User returns login's membership of contract cid; ErrNoUser if they are
// not declared on it.
func (q Queries) User(ctx context.Context, cid, login string) (User, error) {
	u, err := scanUser(q.Pool.QueryRow(ctx, `SELECT `+userColumns+userFrom+` AND m.login_key = $2`, cid, identity.LoginKey(login)))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, ErrNoUser
	}
	if err != nil {
		return User{}, fmt.Errorf("members: user %s of %s: %w", login, cid, err)
	}
	return u, nil
}

// Users lists the users declared on contract cid (API.md list conventions).
func (q Queries) Users(ctx context.Context, cid string, params url.Values) ([]User, *string, error) {
	return q.users(ctx, cid, params, UsersRead)
}

// ConsoleUsers lists the users of contract cid who hold at least one
// console role.
func (q Queries) ConsoleUsers(ctx context.Context, cid string, params url.Values) ([]User, *string, error) {
	return q.users(ctx, cid, params, ConsoleUsersRead)
}

// UsersRead is the query Users runs for these parameters, for the
// authorizer to send with the session check; a validation error for
// parameters Users refuses.
func UsersRead(cid string, params url.Values) (projections.Read, projections.ListParams, error) {
	return usersRead(cid, params, "")
}

// ConsoleUsersRead is UsersRead for ConsoleUsers.
func ConsoleUsersRead(cid string, params url.Values) (projections.Read, projections.ListParams, error) {
	return usersRead(cid, params, " AND cardinality(m.console) > 0")
}

func usersRead(cid string, params url.Values, filter string) (projections.Read, projections.ListParams, error) {
	p, err := UsersList.ParseList(params)
	if err != nil {
		return projections.Read{}, p, err
	}
	b := UsersList.Build(p, 1)
	return projections.Read{
		SQL:  `SELECT ` + userColumns + `, ` + UsersList.SortColumns(p) + userFrom + filter + b.Where + b.OrderLimit,
		Args: append([]any{cid}, b.Args...),
	}, p, nil
}

func (q Queries) users(ctx context.Context, cid string, params url.Values,
	read func(string, url.Values) (projections.Read, projections.ListParams, error)) ([]User, *string, error) {
	rd, p, err := read(cid, params)
	if err != nil {
		return nil, nil, err
	}
	rows, err := projections.Run(ctx, q.Pool, rd)
	if err != nil {
		return nil, nil, fmt.Errorf("members: users of %s: %w", cid, err)
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (User, error) {
		var value, key string
		u, err := scanUser(r, &value, &key)
		u.sortValue, u.sortKey = value, key
		return u, err
	})
	if err != nil {
		return nil, nil, fmt.Errorf("members: users of %s: %w", cid, err)
	}
	items, next := projections.Page(p, list, func(u User) (string, string) { return u.sortValue, u.sortKey })
	return items, next, nil
}
