package oidcop

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/zitadel/oidc/v3/pkg/op"

	"selfcare/internal/secrets"
)

// SigningKeyPurpose names the key, derived from SELFCARE_SECRET, that
// seals the provider's RSA signing keys in the database.
const SigningKeyPurpose = "oidc-signing-key-seal"

// KeyRing holds the provider's signing keys: RSA-2048 (RS256, what every
// relying party verifies), generated on demand, sealed under a key derived
// from SELFCARE_SECRET and stored in PostgreSQL so that every process signs
// and publishes the same ones. The newest key signs; it is replaced after
// Rotation, and a replaced key stays published for Retention (the longest
// token lifetime) so that the tokens it signed still verify.
type KeyRing struct {
	Pool      *pgxpool.Pool
	Keys      *secrets.Keys
	Now       func() time.Time
	Rotation  time.Duration
	Retention time.Duration

	mu    sync.Mutex
	cache map[string]*rsa.PrivateKey
}

type ringKey struct {
	kid     string
	private *rsa.PrivateKey
}

// signingKey and publicKey adapt a key to the op package.
type signingKey struct{ ringKey }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.private }
func (k signingKey) ID() string                                  { return k.kid }

type publicKey struct{ ringKey }

func (k publicKey) ID() string                         { return k.kid }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.private.PublicKey }

// Signing returns the key that signs now, rotating it first when it is
// older than Rotation.
func (kr *KeyRing) Signing(ctx context.Context) (op.SigningKey, error) {
	now := kr.Now()
	var kid string
	var sealed []byte
	err := kr.Pool.QueryRow(ctx, `
SELECT kid, sealed FROM oidc_signing_keys WHERE retired_at IS NULL AND created_at > $1
ORDER BY created_at DESC LIMIT 1`, now.Add(-kr.Rotation)).Scan(&kid, &sealed)
	if errors.Is(err, pgx.ErrNoRows) {
		kid, sealed, err = kr.rotate(ctx, now)
	}
	if err != nil {
		return nil, fmt.Errorf("oidc: signing key: %w", err)
	}
	k, err := kr.open(kid, sealed)
	if err != nil {
		return nil, err
	}
	return signingKey{k}, nil
}

// rotate makes a new signing key and retires the current one, unless
// another process just did (an advisory lock serialises them).
func (kr *KeyRing) rotate(ctx context.Context, now time.Time) (kid string, sealed []byte, err error) {
	err = pgx.BeginFunc(ctx, kr.Pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('oidc_signing_keys'))`); err != nil {
			return err
		}
		err := tx.QueryRow(ctx, `
SELECT kid, sealed FROM oidc_signing_keys WHERE retired_at IS NULL AND created_at > $1
ORDER BY created_at DESC LIMIT 1`, now.Add(-kr.Rotation)).Scan(&kid, &sealed)
		if err == nil || !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		private, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return err
		}
		kid = uuid.NewString()
		der, err := x509.MarshalPKCS8PrivateKey(private)
		if err != nil {
			return err
		}
		if sealed, err = kr.Keys.Seal(SigningKeyPurpose, der, []byte(kid)); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE oidc_signing_keys SET retired_at = $1 WHERE retired_at IS NULL`, now); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM oidc_signing_keys WHERE retired_at <= $1`, now.Add(-kr.Retention)); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `INSERT INTO oidc_signing_keys (kid, sealed, created_at) VALUES ($1, $2, $3)`, kid, sealed, now)
		return err
	})
	return kid, sealed, err
}

// Published returns the keys of the JWKS: the signing key and those
// retired less than Retention ago.
func (kr *KeyRing) Published(ctx context.Context) ([]op.Key, error) {
	if _, err := kr.Signing(ctx); err != nil { // a first key, or a due rotation
		return nil, err
	}
	rows, err := kr.Pool.Query(ctx, `
SELECT kid, sealed FROM oidc_signing_keys WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC`,
		kr.Now().Add(-kr.Retention))
	if err != nil {
		return nil, fmt.Errorf("oidc: published keys: %w", err)
	}
	var out []op.Key
	for rows.Next() {
		var kid string
		var sealed []byte
		if err := rows.Scan(&kid, &sealed); err != nil {
			return nil, err
		}
		k, err := kr.open(kid, sealed)
		if err != nil {
			return nil, err
		}
		out = append(out, publicKey{k})
	}
	return out, rows.Err()
}

// open unseals a stored key (cached by kid: keys never change).
func (kr *KeyRing) open(kid string, sealed []byte) (ringKey, error) {
	kr.mu.Lock()
	defer kr.mu.Unlock()
	if k, ok := kr.cache[kid]; ok {
		return ringKey{kid, k}, nil
	}
	der, err := kr.Keys.Open(SigningKeyPurpose, sealed, []byte(kid))
	if err != nil {
		return ringKey{}, fmt.Errorf("oidc: unseal signing key %s (was SELFCARE_SECRET changed?): %w", kid, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return ringKey{}, fmt.Errorf("oidc: signing key %s: %w", kid, err)
	}
	private, ok := parsed.(*rsa.PrivateKey)
	if !ok {
		return ringKey{}, fmt.Errorf("oidc: signing key %s is not RSA", kid)
	}
	if kr.cache == nil {
		kr.cache = map[string]*rsa.PrivateKey{}
	}
	kr.cache[kid] = private
	return ringKey{kid, private}, nil
}
