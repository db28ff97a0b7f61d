-- +goose Up
-- Side tables of authentication, console API credentials and emails. Like
-- 0002, they hold what must never be in an event (token hashes, code MACs,
-- password hashes, sealed secrets), written in the same transaction as the
-- events that account for them.

-- Captcha answers (SPEC §4): digits 0-9 as bytes. Not a user secret, but
-- single use (deleted when checked, right or wrong) and short-lived, and in
-- the database so that every server process can check any captcha.
CREATE TABLE captchas (
    id          text        PRIMARY KEY,
    digits      bytea       NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX captchas_expiry ON captchas (expires_at);

-- Set-password links (access email and forgotten password). Only the
-- SHA-256 of the token is stored; the token itself is re-derived from the
-- PasswordResetRequested event id under a secret key when the mail is sent.
-- requested_at matches the event's, which the identity's decision checks.
CREATE TABLE password_tokens (
    token_hash   bytea       PRIMARY KEY,
    login_key    text        NOT NULL,
    purpose      text        NOT NULL CHECK (purpose IN ('access', 'reset')),
    contract_id  text,
    requested_at timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz
);
CREATE INDEX password_tokens_login ON password_tokens (login_key);

-- Throttling, shared by every process: sign-in attempts per login and per
-- client address, verification codes sent per console account, in a fixed
-- window (see internal/app/throttle.go).
CREATE TABLE sign_in_attempts (
    scope        text        NOT NULL CHECK (scope IN ('login', 'ip', 'code')),
    key          text        NOT NULL,
    attempts     integer     NOT NULL,
    window_start timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);

-- The latest email verification code of each console account: its HMAC
-- only, with the attempts and use that the domain's check records.
CREATE TABLE verification_codes (
    contract_id text        NOT NULL,
    login_key   text        NOT NULL,
    code_mac    bytea       NOT NULL,
    issued_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    used        boolean     NOT NULL DEFAULT false,
    PRIMARY KEY (contract_id, login_key)
);

-- Console API passwords (argon2id hashes), per console account.
CREATE TABLE api_passwords (
    contract_id   text        NOT NULL,
    login_key     text        NOT NULL,
    password_hash text        NOT NULL,
    set_at        timestamptz NOT NULL,
    PRIMARY KEY (contract_id, login_key)
);

-- Secret access keys, sealed with AES-256-GCM bound to their key id.
CREATE TABLE access_key_secrets (
    access_key_id text        PRIMARY KEY,
    contract_id   text        NOT NULL,
    login_key     text        NOT NULL,
    secret_sealed bytea       NOT NULL,
    created_at    timestamptz NOT NULL
);
CREATE INDEX access_key_secrets_account ON access_key_secrets (contract_id, login_key);

-- Email jobs (SPEC §9), written by the notifier in the transaction that
-- acknowledges the event they come from (event_id, kind unique: a
-- redelivered event adds no second mail). params never hold a secret: links
-- and codes are re-derived from event_id when the mail is rendered.
CREATE TABLE mail_outbox (
    id              bigserial   PRIMARY KEY,
    event_id        uuid        NOT NULL,
    kind            text        NOT NULL,
    recipient       text        NOT NULL,
    language        text        NOT NULL,
    params          jsonb       NOT NULL,
    created_at      timestamptz NOT NULL,
    next_attempt_at timestamptz NOT NULL,
    lease_until     timestamptz,
    attempts        integer     NOT NULL DEFAULT 0,
    last_error      text,
    sent_at         timestamptz,
    failed_at       timestamptz,
    UNIQUE (event_id, kind)
);
CREATE INDEX mail_outbox_due ON mail_outbox (next_attempt_at) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP TABLE mail_outbox;
DROP TABLE access_key_secrets;
DROP TABLE api_passwords;
DROP TABLE verification_codes;
DROP TABLE sign_in_attempts;
DROP TABLE password_tokens;
DROP TABLE captchas;
