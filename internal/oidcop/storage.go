package oidcop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"selfcare/domain/access"
	"selfcare/domain/identity"
	"selfcare/internal/auth"
	"selfcare/projections/members"
)

// CompanyScopePrefix prefixes the scope that names the company account a
// relying party asks for: "company:OCB0000124". A scope (rather than a
// custom parameter) travels through every standard client library, and the
// provider can refuse one it does not know (invalid_scope).
const CompanyScopePrefix = "company:"

// The claims a relying party receives besides the standard ones.
const (
	ClaimCompanyAccount = "company_account"
	ClaimDomainID       = "domain_id"
	ClaimConsoleRoles   = "console_roles"
	ClaimConsoleGroups  = "console_groups"
)

var contractIDPattern = regexp.MustCompile(`^OCB[0-9]{7}$`)

// companyOf returns the company account a request's scopes name.
func companyOf(scopes []string) (string, bool) {
	for _, s := range scopes {
		if cid, ok := strings.CutPrefix(s, CompanyScopePrefix); ok && contractIDPattern.MatchString(cid) {
			return cid, true
		}
	}
	return "", false
}

// Lifetimes of what the provider issues.
const (
	authRequestTTL = 10 * time.Minute
	accessTokenTTL = 15 * time.Minute
	idTokenTTL     = 15 * time.Minute
)

// storage implements op.Storage on PostgreSQL and the read models.
type storage struct {
	pool    *pgxpool.Pool
	now     func() time.Time
	clients Clients
	keys    *KeyRing
	members members.Queries
	// terminate ends the provider session of the request's cookie (RP-
	// initiated logout); set by the provider.
	terminate func(ctx context.Context, login string) error
}

// authRequest is an authorization request in flight.
type authRequest struct {
	ID       string            `json:"-"`
	Request  *oidc.AuthRequest `json:"request"`
	Login    string            `json:"-"`
	AuthTime time.Time         `json:"-"`
	IsDone   bool              `json:"-"`
}

func (a *authRequest) GetID() string                      { return a.ID }
func (a *authRequest) GetACR() string                     { return "" }
func (a *authRequest) GetAMR() []string                   { return []string{"pwd"} }
func (a *authRequest) GetAudience() []string              { return []string{a.Request.ClientID} }
func (a *authRequest) GetAuthTime() time.Time             { return a.AuthTime }
func (a *authRequest) GetClientID() string                { return a.Request.ClientID }
func (a *authRequest) GetNonce() string                   { return a.Request.Nonce }
func (a *authRequest) GetRedirectURI() string             { return a.Request.RedirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType { return a.Request.ResponseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode { return a.Request.ResponseMode }
func (a *authRequest) GetScopes() []string                { return a.Request.Scopes }
func (a *authRequest) GetState() string                   { return a.Request.State }
func (a *authRequest) GetSubject() string                 { return identity.LoginKey(a.Login) }
func (a *authRequest) Done() bool                         { return a.IsDone }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	return &oidc.CodeChallenge{Challenge: a.Request.CodeChallenge, Method: a.Request.CodeChallengeMethod}
}

// Company is the company account the request asks for.
func (a *authRequest) Company() string { c, _ := companyOf(a.Request.Scopes); return c }

// forcesLogin: prompt=login, the password is asked even with a session.
func (a *authRequest) forcesLogin() bool { return slices.Contains(a.Request.Prompt, oidc.PromptLogin) }

// noPrompt: prompt=none, the provider must not show its page.
func (a *authRequest) noPrompt() bool { return slices.Contains(a.Request.Prompt, oidc.PromptNone) }

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if req.CodeChallenge == "" || req.CodeChallengeMethod != oidc.CodeChallengeMethodS256 {
		return nil, oidc.ErrInvalidRequest().WithDescription("PKCE is required: send code_challenge with code_challenge_method=S256")
	}
	if _, ok := companyOf(req.Scopes); !ok {
		return nil, oidc.ErrInvalidScope().WithDescription("name the company account with the scope %sOCB0000000", CompanyScopePrefix)
	}
	a := &authRequest{ID: uuid.NewString(), Request: req}
	data, err := json.Marshal(a)
	if err != nil {
		return nil, err
	}
	now := s.now()
	_, err = s.pool.Exec(ctx, `INSERT INTO oidc_auth_requests (id, request, created_at, expires_at) VALUES ($1, $2, $3, $4)`,
		a.ID, data, now, now.Add(authRequestTTL))
	if err != nil {
		return nil, fmt.Errorf("oidc: save auth request: %w", err)
	}
	return a, nil
}

var errNoAuthRequest = errors.New("oidc: unknown or expired authorization request")

func scanAuthRequest(row pgx.Row) (*authRequest, error) {
	a := &authRequest{}
	var data []byte
	var authTime *time.Time
	if err := row.Scan(&a.ID, &data, &a.Login, &authTime, &a.IsDone); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return nil, errNoAuthRequest
		}
		return nil, fmt.Errorf("oidc: auth request: %w", err)
	}
	if authTime != nil {
		a.AuthTime = *authTime
	}
	if err := json.Unmarshal(data, a); err != nil {
		return nil, fmt.Errorf("oidc: auth request %s: %w", a.ID, err)
	}
	return a, nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.authRequest(ctx, id)
}

func (s *storage) authRequest(ctx context.Context, id string) (*authRequest, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, errNoAuthRequest
	}
	return scanAuthRequest(s.pool.QueryRow(ctx, `
SELECT id, request, login, auth_time, done FROM oidc_auth_requests WHERE id = $1 AND expires_at > $2`, id, s.now()))
}

// AuthRequestByCode redeems a code: a code is good once, and a second
// exchange finds nothing (invalid_grant).
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	now := s.now()
	return scanAuthRequest(s.pool.QueryRow(ctx, `
UPDATE oidc_auth_requests SET code_redeemed_at = $2
WHERE code_hash = $1 AND code_redeemed_at IS NULL AND done AND expires_at > $2
RETURNING id, request, login, auth_time, done`, auth.HashToken(code), now))
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	_, err := s.pool.Exec(ctx, `UPDATE oidc_auth_requests SET code_hash = $2 WHERE id = $1`, id, auth.HashToken(code))
	return err
}

// DeleteAuthRequest is called once tokens are issued. The row stays,
// redeemed, until it expires, so that a replayed code is told apart from
// an unknown one in the logs; the purge deletes it.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `UPDATE oidc_auth_requests SET code_redeemed_at = coalesce(code_redeemed_at, $2) WHERE id = $1`, id, s.now())
	return err
}

// complete marks the request authenticated for login.
func (s *storage) complete(ctx context.Context, id, login string, authTime time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE oidc_auth_requests SET login = $2, auth_time = $3, done = true WHERE id = $1 AND NOT done`, id, login, authTime)
	if err != nil {
		return fmt.Errorf("oidc: complete auth request: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return errNoAuthRequest
	}
	return nil
}

// drop deletes a request that was answered with an error.
func (s *storage) drop(ctx context.Context, id string) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM oidc_auth_requests WHERE id = $1`, id)
	return err
}

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	a, ok := req.(*authRequest)
	if !ok {
		return "", time.Time{}, oidc.ErrUnsupportedGrantType()
	}
	id := uuid.NewString()
	expires := s.now().Add(accessTokenTTL)
	_, err := s.pool.Exec(ctx, `
INSERT INTO oidc_access_tokens (id, client_id, login, contract_id, scopes, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`,
		id, a.GetClientID(), a.Login, a.Company(), []string(a.Request.Scopes), expires)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("oidc: save access token: %w", err)
	}
	return id, expires, nil
}

func (s *storage) CreateAccessAndRefreshTokens(context.Context, op.TokenRequest, string) (string, string, time.Time, error) {
	return "", "", time.Time{}, oidc.ErrUnsupportedGrantType().WithDescription("refresh tokens are not offered: sign in again")
}

func (s *storage) TokenRequestByRefreshToken(context.Context, string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) GetRefreshTokenInfo(context.Context, string, string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

// TerminateSession ends the provider session of the browser (RP-initiated
// logout) and revokes the user's access tokens for the client.
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	if _, err := s.pool.Exec(ctx, `
UPDATE oidc_access_tokens SET revoked_at = $3 WHERE lower(login) = $1 AND client_id = $2 AND revoked_at IS NULL`,
		userID, clientID, s.now()); err != nil {
		return err
	}
	if s.terminate != nil {
		return s.terminate(ctx, userID)
	}
	return nil
}

func (s *storage) RevokeToken(ctx context.Context, tokenID, _ string, clientID string) *oidc.Error {
	if _, err := uuid.Parse(tokenID); err != nil {
		return nil // RFC 7009: an unknown token is not an error
	}
	if _, err := s.pool.Exec(ctx, `UPDATE oidc_access_tokens SET revoked_at = $3 WHERE id = $1 AND client_id = $2 AND revoked_at IS NULL`,
		tokenID, clientID, s.now()); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	return nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) { return s.keys.Signing(ctx) }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) { return s.keys.Published(ctx) }

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.clients.Get(ctx, id)
	if errors.Is(err, ErrClientUnknown) {
		return nil, err
	}
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	return opClient{c}, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	c, err := s.clients.Get(ctx, id)
	if errors.Is(err, ErrClientUnknown) {
		return err
	}
	if err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if !c.checkSecret(secret) {
		return errors.New("oidc: wrong client secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(context.Context, *oidc.UserInfo, string, string, []string) error {
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims, read afresh from the
// read models: roles changed since the last sign-in show at this one.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, _ []string) error {
	a, ok := req.(*authRequest)
	if !ok {
		return oidc.ErrUnsupportedGrantType()
	}
	return s.userinfo(ctx, info, a.Login, a.Company())
}

// errNoLongerGranted: the user lost their console account since the token
// was issued.
var errNoLongerGranted = errors.New("oidc: the user no longer holds a console account on this company account")

// userinfo fills the claims of login on company account cid. It refuses a
// user who no longer holds a console account there.
func (s *storage) userinfo(ctx context.Context, info *oidc.UserInfo, login, cid string) error {
	me, err := s.members.Identity(ctx, login)
	if err != nil {
		return err
	}
	c, err := s.members.Contract(ctx, cid)
	if err != nil {
		return err
	}
	roles, _, err := s.members.ConsoleRoles(ctx, cid, login)
	if err != nil {
		return err
	}
	if roles.IsEmpty() {
		return errNoLongerGranted
	}
	info.Subject = identity.LoginKey(me.Login)
	info.PreferredUsername = me.Login
	info.Email = me.Email
	info.EmailVerified = oidc.Bool(me.Email != "")
	info.GivenName = me.FirstName
	info.FamilyName = me.LastName
	info.Name = strings.TrimSpace(me.FirstName + " " + me.LastName)
	if tag, err := language.Parse(me.Language); err == nil && me.Language != "" {
		info.Locale = oidc.NewLocale(tag)
	}
	var predefined, groups []string
	for _, r := range roles.Names() {
		if slices.Contains(access.PredefinedConsoleRoles, r) {
			predefined = append(predefined, r)
		} else {
			groups = append(groups, r)
		}
	}
	info.AppendClaims(ClaimCompanyAccount, c.ID)
	info.AppendClaims(ClaimDomainID, c.PlatformID)
	info.AppendClaims(ClaimConsoleRoles, nonNil(predefined))
	info.AppendClaims(ClaimConsoleGroups, nonNil(groups))
	return nil
}

// token is a live access token.
type token struct {
	login, contract, client string
	scopes                  []string
	expires                 time.Time
}

func (s *storage) token(ctx context.Context, id string) (token, error) {
	var t token
	if _, err := uuid.Parse(id); err != nil {
		return t, errors.New("oidc: unknown token")
	}
	err := s.pool.QueryRow(ctx, `
SELECT login, contract_id, client_id, scopes, expires_at FROM oidc_access_tokens
WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2`, id, s.now()).Scan(&t.login, &t.contract, &t.client, &t.scopes, &t.expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, errors.New("oidc: unknown, expired or revoked token")
	}
	return t, err
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	t, err := s.token(ctx, tokenID)
	if err != nil {
		return err
	}
	return s.userinfo(ctx, info, t.login, t.contract)
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, _, clientID string) error {
	t, err := s.token(ctx, tokenID)
	if err != nil || t.client != clientID {
		return errors.New("oidc: token not active")
	}
	info := new(oidc.UserInfo)
	if err := s.userinfo(ctx, info, t.login, t.contract); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Active = true
	resp.Scope = t.scopes
	resp.ClientID = t.client
	resp.Expiration = oidc.FromTime(t.expires)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("oidc: JWT profile grants are not offered")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("oidc: JWT profile grants are not offered")
}

func (s *storage) Health(ctx context.Context) error { return s.pool.Ping(ctx) }

// opClient adapts a registered client to the op package: a confidential
// web application using the authorization code flow only.
type opClient struct{ c Client }

func (o opClient) GetID() string                       { return o.c.ID }
func (o opClient) RedirectURIs() []string              { return o.c.RedirectURIs }
func (o opClient) PostLogoutRedirectURIs() []string    { return o.c.PostLogoutURIs }
func (o opClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (o opClient) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (o opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (o opClient) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (o opClient) LoginURL(id string) string            { return LoginPath + "?id=" + id }
func (o opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (o opClient) IDTokenLifetime() time.Duration       { return idTokenTTL }
func (o opClient) DevMode() bool                        { return false }
func (o opClient) IsScopeAllowed(scope string) bool     { _, ok := companyOf([]string{scope}); return ok }
func (o opClient) IDTokenUserinfoClaimsAssertion() bool { return true }
func (o opClient) ClockSkew() time.Duration             { return 0 }
func (o opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (o opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
