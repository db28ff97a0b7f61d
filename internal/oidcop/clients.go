package oidcop

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"selfcare/internal/auth"
)

// Client is a registered relying party (the console).
type Client struct {
	ID   string
	Name string
	// RedirectURIs are matched exactly (no prefix, no pattern).
	RedirectURIs []string
	// PostLogoutURIs are where RP-initiated logout may send the browser.
	PostLogoutURIs []string
	// InitiateLoginURI is the relying party's third-party-initiated login
	// endpoint (OIDC Core §4): the "Access the technical console" button
	// opens it.
	InitiateLoginURI string
	CreatedAt        time.Time
	secretHash       []byte
}

// Clients is the registry of relying parties, in PostgreSQL.
type Clients struct {
	Pool *pgxpool.Pool
	Now  func() time.Time
}

// Errors of the client registry.
var (
	ErrClientExists  = errors.New("oidc: a client with this id is already registered")
	ErrClientUnknown = errors.New("oidc: no such client")
)

var clientIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$`)

// Add registers c and returns its secret, which is shown once and stored
// only hashed.
func (cs Clients) Add(ctx context.Context, c Client) (secret string, err error) {
	if !clientIDPattern.MatchString(c.ID) {
		return "", fmt.Errorf("oidc: client id %q: 2 to 64 letters, digits, '.', '_' or '-'", c.ID)
	}
	if len(c.RedirectURIs) == 0 {
		return "", errors.New("oidc: a client needs at least one redirect URI")
	}
	for _, u := range append(append([]string{}, c.RedirectURIs...), c.PostLogoutURIs...) {
		if err := checkURI(u); err != nil {
			return "", err
		}
	}
	if c.InitiateLoginURI != "" {
		if err := checkURI(c.InitiateLoginURI); err != nil {
			return "", err
		}
	}
	secret, hash, err := auth.NewToken()
	if err != nil {
		return "", err
	}
	_, err = cs.Pool.Exec(ctx, `
INSERT INTO oidc_clients (client_id, secret_hash, name, redirect_uris, post_logout_uris, initiate_login_uri, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, c.ID, fmt.Sprintf("%x", hash), c.Name, c.RedirectURIs, nonNil(c.PostLogoutURIs), c.InitiateLoginURI, cs.Now())
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		return "", ErrClientExists
	}
	if err != nil {
		return "", fmt.Errorf("oidc: add client: %w", err)
	}
	return secret, nil
}

// checkURI accepts absolute http(s) URIs without a fragment (RFC 6749 §3.1.2).
func checkURI(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" {
		return fmt.Errorf("oidc: %q is not an absolute http(s) URI without a fragment", s)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

const clientColumns = `client_id, secret_hash, name, redirect_uris, post_logout_uris, initiate_login_uri, created_at`

func scanClient(row pgx.Row) (Client, error) {
	var c Client
	var hash string
	if err := row.Scan(&c.ID, &hash, &c.Name, &c.RedirectURIs, &c.PostLogoutURIs, &c.InitiateLoginURI, &c.CreatedAt); err != nil {
		return Client{}, err
	}
	c.secretHash = []byte(hash)
	return c, nil
}

// Get returns the client id; ErrClientUnknown if none.
func (cs Clients) Get(ctx context.Context, id string) (Client, error) {
	c, err := scanClient(cs.Pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM oidc_clients WHERE client_id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, ErrClientUnknown
	}
	if err != nil {
		return Client{}, fmt.Errorf("oidc: client %s: %w", id, err)
	}
	return c, nil
}

// Console returns the client the "Access the technical console" button
// opens: the first registered one with an initiate-login URI.
// ErrClientUnknown if none.
func (cs Clients) Console(ctx context.Context) (Client, error) {
	c, err := scanClient(cs.Pool.QueryRow(ctx, `SELECT `+clientColumns+` FROM oidc_clients
WHERE initiate_login_uri <> '' ORDER BY created_at, client_id LIMIT 1`))
	if errors.Is(err, pgx.ErrNoRows) {
		return Client{}, ErrClientUnknown
	}
	if err != nil {
		return Client{}, fmt.Errorf("oidc: console client: %w", err)
	}
	return c, nil
}

// List returns every client, by id.
func (cs Clients) List(ctx context.Context) ([]Client, error) {
	rows, err := cs.Pool.Query(ctx, `SELECT `+clientColumns+` FROM oidc_clients ORDER BY client_id`)
	if err != nil {
		return nil, fmt.Errorf("oidc: list clients: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Client, error) { return scanClient(r) })
}

// Remove unregisters the client id and revokes its access tokens;
// ErrClientUnknown if none.
func (cs Clients) Remove(ctx context.Context, id string) error {
	return pgx.BeginFunc(ctx, cs.Pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM oidc_clients WHERE client_id = $1`, id)
		if err != nil {
			return fmt.Errorf("oidc: remove client: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return ErrClientUnknown
		}
		_, err = tx.Exec(ctx, `UPDATE oidc_access_tokens SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL`, id, cs.Now())
		return err
	})
}

// checkSecret reports whether secret is the client's.
func (c Client) checkSecret(secret string) bool {
	return auth.Equal(fmt.Sprintf("%x", auth.HashToken(secret)), string(c.secretHash))
}
