-- +goose Up
-- Secrets live in these tables, never in events (API.md: event data never
-- holds a password, token, code or secret, even hashed). They are written in
-- the same transaction as the events that account for them.

-- Password hashes (argon2id, PHC string) of identities, by lower-cased login.
CREATE TABLE credentials (
    login_key     text        PRIMARY KEY,
    login         text        NOT NULL,
    password_hash text        NOT NULL,
    changed_at    timestamptz NOT NULL
);

-- Sign-in sessions. Only the SHA-256 of the bearer token is stored.
CREATE TABLE sessions (
    token_hash  bytea       PRIMARY KEY,
    login_key   text        NOT NULL,
    login       text        NOT NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz,
    source_ip   text        NOT NULL DEFAULT ''
);
CREATE INDEX sessions_login ON sessions (login_key);

-- Idempotency-Key records (API.md conventions): the first response to a
-- key, replayed to retries with the same body. state: pending while the
-- request runs, committed once its command's transaction committed (set in
-- that transaction), done once the response is stored.
CREATE TABLE idempotency_keys (
    principal    text        NOT NULL,
    key          text        NOT NULL,
    method       text        NOT NULL,
    path         text        NOT NULL,
    request_hash bytea       NOT NULL,
    state        text        NOT NULL CHECK (state IN ('pending', 'committed', 'done')),
    status       integer,
    headers      jsonb,
    body         bytea,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (principal, key)
);

-- Contract numbers: OCB + 7 digits. A number is never reused; a rolled-back
-- creation leaves a gap, which is harmless.
CREATE SEQUENCE contract_numbers START 1;

-- +goose Down
DROP SEQUENCE contract_numbers;
DROP TABLE idempotency_keys;
DROP TABLE sessions;
DROP TABLE credentials;
