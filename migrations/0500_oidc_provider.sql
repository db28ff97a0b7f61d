-- +goose Up
-- The OpenID Connect provider (SPEC §10, guide §4.2): its registered
-- clients, its signing keys (sealed under SELFCARE_SECRET), the
-- authorization requests in flight with their single-use codes, and the
-- access tokens it issued. Like 0200, secrets here are only hashes or
-- sealed; the sign-ins themselves are events (ConsoleSignInGranted/Denied).

-- Relying parties (the console), registered with `selfcare oidc clients`.
-- Redirect URIs match exactly; the secret is shown once, kept hashed.
CREATE TABLE oidc_clients (
    client_id          text        PRIMARY KEY,
    secret_hash        text        NOT NULL,
    name               text        NOT NULL DEFAULT '',
    redirect_uris      text[]      NOT NULL,
    post_logout_uris   text[]      NOT NULL DEFAULT '{}',
    initiate_login_uri text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL
);

-- Signing keys: RSA private keys sealed with AES-GCM under a key derived
-- from SELFCARE_SECRET (aad: the kid). The newest signs; older ones stay
-- published until every token they signed has expired (retired_at + the
-- longest token lifetime), then are deleted.
CREATE TABLE oidc_signing_keys (
    kid         text        PRIMARY KEY,
    sealed      bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    retired_at  timestamptz
);

-- Authorization requests between /oidc/authorize and the token exchange.
-- The code is stored hashed and is redeemed once (code_redeemed_at).
CREATE TABLE oidc_auth_requests (
    id               text        PRIMARY KEY,
    request          jsonb       NOT NULL,
    login            text        NOT NULL DEFAULT '',
    auth_time        timestamptz,
    done             boolean     NOT NULL DEFAULT false,
    code_hash        bytea       UNIQUE,
    code_redeemed_at timestamptz,
    created_at       timestamptz NOT NULL,
    expires_at       timestamptz NOT NULL
);
CREATE INDEX oidc_auth_requests_expiry ON oidc_auth_requests (expires_at);

-- Access tokens (opaque to the client: the provider encrypts the id).
CREATE TABLE oidc_access_tokens (
    id          text        PRIMARY KEY,
    client_id   text        NOT NULL,
    login       text        NOT NULL,
    contract_id text        NOT NULL,
    scopes      text[]      NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX oidc_access_tokens_expiry ON oidc_access_tokens (expires_at);

-- A session row is either a bearer session of the API, or the provider's
-- session held in a cookie ('provider'), which the API never accepts.
ALTER TABLE sessions ADD COLUMN purpose text NOT NULL DEFAULT 'api' CHECK (purpose IN ('api', 'provider'));

-- +goose Down
ALTER TABLE sessions DROP COLUMN purpose;
DROP TABLE oidc_access_tokens;
DROP TABLE oidc_auth_requests;
DROP TABLE oidc_signing_keys;
DROP TABLE oidc_clients;
