package commands

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"selfcare/internal/clock"
	"selfcare/internal/secrets"
)

// SSOSigningPurpose names the Ed25519 key that signs console assertions;
// the console verifies them with its public half.
const SSOSigningPurpose = "console-sso-assertion"

// SSOAudience is the audience of console assertions.
const SSOAudience = "flexible-engine-console"

// ConsoleSSO issues the signed assertions that open the console without a
// second login (SPEC §5): a compact JWS (EdDSA) of a JWT naming the user,
// the contract and its console domain (platform id), the console roles, a
// unique id (jti, for the console to refuse a replay) and an expiry of at
// most a minute.
type ConsoleSSO struct {
	Keys  *secrets.Keys
	Clock clock.Clock
	// ConsoleURL is the console's base URL.
	ConsoleURL string
	// Issuer names selfcare in assertions (its public URL).
	Issuer string
	// TTL is how long an assertion is valid (default and at most 60 s).
	TTL time.Duration
}

// SSOClaims are the claims of a console assertion besides the registered ones.
type SSOClaims struct {
	jwt.Claims
	ContractID string   `json:"contract_id"`
	DomainID   string   `json:"domain_id"`
	Roles      []string `json:"roles"`
}

// Assertion is an issued assertion and where to present it.
type Assertion struct {
	RedirectURL string
	Token       string
	ExpiresAt   time.Time
}

// Issue signs an assertion for login on contractID (console domain
// platformID) with the given console roles. The redirect URL is the
// console's SSO endpoint carrying the assertion, for a plain redirect.
func (s *ConsoleSSO) Issue(login, contractID, platformID string, roles []string) (Assertion, error) {
	ttl := s.TTL
	if ttl <= 0 || ttl > time.Minute {
		ttl = time.Minute
	}
	now := s.Clock.Now()
	expires := now.Add(ttl).Truncate(time.Second)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: s.Keys.SigningKey(SSOSigningPurpose)},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return Assertion{}, fmt.Errorf("console assertion: %w", err)
	}
	jti, err := uuid.NewRandom()
	if err != nil {
		return Assertion{}, err
	}
	token, err := jwt.Signed(signer).Claims(SSOClaims{
		Claims: jwt.Claims{
			Issuer: s.Issuer, Subject: login, Audience: jwt.Audience{SSOAudience},
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(expires),
			ID: jti.String(),
		},
		ContractID: contractID, DomainID: platformID, Roles: roles,
	}).Serialize()
	if err != nil {
		return Assertion{}, fmt.Errorf("console assertion: %w", err)
	}
	q := url.Values{"domain_id": {platformID}, "assertion": {token}}
	return Assertion{
		RedirectURL: strings.TrimRight(s.ConsoleURL, "/") + "/sso?" + q.Encode(),
		Token:       token,
		ExpiresAt:   expires,
	}, nil
}
