// Package oidcop makes the customer area the OpenID Connect provider of
// the cloud console (SPEC §10, guide §4), on github.com/zitadel/oidc's op
// package: this package supplies its storage (PostgreSQL, the read models),
// its sealed and rotated signing keys, its sign-in page and session cookie,
// and records each console sign-in as an event.
package oidcop

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"selfcare/commands"
	"selfcare/domain"
	"selfcare/internal/clock"
	"selfcare/internal/secrets"
	"selfcare/projections/members"
)

// Paths of the provider. The issuer is the customer area's public URL, so
// discovery is at its root; the protocol endpoints are under /oidc.
const (
	DiscoveryPath    = "/.well-known/openid-configuration"
	AuthorizePath    = "/oidc/authorize"
	CallbackPath     = "/oidc/authorize/callback"
	TokenPath        = "/oidc/token"
	UserinfoPath     = "/oidc/userinfo"
	KeysPath         = "/oidc/keys"
	EndSessionPath   = "/oidc/end_session"
	RevocationPath   = "/oidc/revoke"
	IntrospectPath   = "/oidc/introspect"
	LoginPath        = "/oidc/login"
	CookieName       = "selfcare_op_session"
	csrfCookieName   = "selfcare_op_csrf"
	cryptoKeyPurpose = "oidc-token-id-encryption"
	csrfPurpose      = "oidc-login-csrf"
)

// Options build a Provider.
type Options struct {
	Pool  *pgxpool.Pool
	Keys  *secrets.Keys
	Clock clock.Clock
	// Issuer is the public URL of the customer area; empty: the host of
	// each request (local runs and tests).
	Issuer   string
	Sessions *commands.Sessions
	SignIns  *commands.ConsoleSignIns
	Members  members.Queries
	Logger   *slog.Logger
	// KeyRotation is how long a signing key signs (default 30 days).
	KeyRotation time.Duration
}

// Provider is the OpenID provider: the op package's protocol handler, and
// the sign-in page and session cookie it relies on.
type Provider struct {
	op       *op.Provider
	protocol http.Handler
	storage  *storage
	sessions *commands.Sessions
	signIns  *commands.ConsoleSignIns
	keys     *secrets.Keys
	clock    clock.Clock
	logger   *slog.Logger
	// Clients is the registry of relying parties.
	Clients Clients
}

// New builds the provider.
func New(o Options) (*Provider, error) {
	if o.KeyRotation <= 0 {
		o.KeyRotation = 30 * 24 * time.Hour
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	now := o.Clock.Now
	clients := Clients{Pool: o.Pool, Now: now}
	p := &Provider{sessions: o.Sessions, signIns: o.SignIns, keys: o.Keys, clock: o.Clock, logger: o.Logger, Clients: clients}
	p.storage = &storage{pool: o.Pool, now: now, clients: clients, members: o.Members,
		keys:      &KeyRing{Pool: o.Pool, Keys: o.Keys, Now: now, Rotation: o.KeyRotation, Retention: max(idTokenTTL, accessTokenTTL) + time.Hour},
		terminate: p.endCookieSession,
	}
	config := &op.Config{
		CryptoKey:                sha256.Sum256(o.Keys.Derive(cryptoKeyPurpose)),
		CryptoKeyId:              "selfcare",
		DefaultLogoutRedirectURI: "/",
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		SupportedUILocales:       []language.Tag{language.French, language.English},
		SupportedClaims: []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "at_hash", "c_hash",
			"name", "given_name", "family_name", "preferred_username", "email", "email_verified", "locale",
			ClaimCompanyAccount, ClaimDomainID, ClaimConsoleRoles, ClaimConsoleGroups},
	}
	issuer := op.IssuerFromHost("")
	opts := []op.Option{
		op.WithCustomEndpoints(op.NewEndpoint(strings.TrimPrefix(AuthorizePath, "/")), op.NewEndpoint(strings.TrimPrefix(TokenPath, "/")),
			op.NewEndpoint(strings.TrimPrefix(UserinfoPath, "/")), op.NewEndpoint(strings.TrimPrefix(RevocationPath, "/")),
			op.NewEndpoint(strings.TrimPrefix(EndSessionPath, "/")), op.NewEndpoint(strings.TrimPrefix(KeysPath, "/"))),
		op.WithCustomIntrospectionEndpoint(op.NewEndpoint(strings.TrimPrefix(IntrospectPath, "/"))),
	}
	if o.Issuer != "" {
		issuer = op.StaticIssuer(strings.TrimRight(o.Issuer, "/"))
	}
	if o.Issuer == "" || strings.HasPrefix(o.Issuer, "http://") {
		opts = append(opts, op.WithAllowInsecure()) // plain-HTTP local runs
	}
	provider, err := op.NewProvider(config, p.storage, issuer, opts...)
	if err != nil {
		return nil, fmt.Errorf("oidc provider: %w", err)
	}
	p.op = provider
	p.protocol = p.withCookieSession(provider)
	return p, nil
}

// Protocol serves the protocol endpoints (discovery, authorize and its
// callback, token, userinfo, keys, end_session, revoke, introspect).
func (p *Provider) Protocol() http.Handler { return p.protocol }

type cookieKey struct{}

// withCookieSession hands the browser's provider session to the storage
// (RP-initiated logout ends it), and drops the cookie on end_session.
func (p *Provider) withCookieSession(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(CookieName); err == nil {
			r = r.WithContext(context.WithValue(r.Context(), cookieKey{}, c.Value))
		}
		if r.URL.Path == EndSessionPath {
			p.clearCookie(w, r, CookieName, "/")
		}
		next.ServeHTTP(w, r)
	})
}

// endCookieSession signs out the provider session of the request, if it
// is login's (an empty login: whoever's).
func (p *Provider) endCookieSession(ctx context.Context, login string) error {
	token, _ := ctx.Value(cookieKey{}).(string)
	if token == "" {
		return nil
	}
	who, _, err := p.sessions.ProviderSession(ctx, token)
	if errors.Is(err, commands.ErrSessionEnded) {
		return nil
	}
	if err != nil {
		return err
	}
	if login != "" && !strings.EqualFold(who, login) {
		return nil
	}
	return p.sessions.SignOut(ctx, token)
}

// EndBrowserSession ends the provider session whose cookie the request
// carries, and drops the cookie: the customer area's sign-out signs the
// user out of the provider too.
func (p *Provider) EndBrowserSession(w http.ResponseWriter, r *http.Request) error {
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil
	}
	p.clearCookie(w, r, CookieName, "/")
	return p.sessions.SignOut(r.Context(), c.Value)
}

// ErrNoConsoleClient: no relying party is registered with an
// initiate-login URI, so the button cannot start a console sign-in.
var ErrNoConsoleClient = fmt.Errorf("%w: no console is registered with the OpenID provider (selfcare oidc clients add --initiate-login-uri)", domain.ErrConflict)

// StartConsole prepares the "Access the technical console" button (guide
// §4.1) for the user of the API session apiToken on company account cid:
// it opens a provider session (the cookie it sets), so that the console's
// sign-in completes without a password, and returns the console's
// initiate-login URI (OIDC Core §4, third-party-initiated login) carrying
// the issuer, the user's login and the company account.
func (p *Provider) StartConsole(w http.ResponseWriter, r *http.Request, apiToken, login, cid string) (string, error) {
	client, err := p.Clients.Console(r.Context())
	if errors.Is(err, ErrClientUnknown) {
		return "", ErrNoConsoleClient
	}
	if err != nil {
		return "", err
	}
	token, expires, err := p.sessions.OpenProviderSession(r.Context(), apiToken)
	if err != nil {
		return "", err
	}
	p.setCookie(w, r, &http.Cookie{Name: CookieName, Value: token, Path: "/", Expires: expires})
	u, err := url.Parse(client.InitiateLoginURI)
	if err != nil {
		return "", err
	}
	q := u.Query()
	q.Set("iss", p.op.IssuerFromRequest(r))
	q.Set("login_hint", login)
	q.Set("company", cid)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// secure tells whether cookies get the Secure attribute: always but on
// plain-HTTP local runs.
func (p *Provider) secure(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(p.op.IssuerFromRequest(r), "https://")
}

func (p *Provider) setCookie(w http.ResponseWriter, r *http.Request, c *http.Cookie) {
	c.HttpOnly = true
	c.SameSite = http.SameSiteLaxMode
	c.Secure = p.secure(r)
	http.SetCookie(w, c)
}

func (p *Provider) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	p.setCookie(w, r, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1})
}
