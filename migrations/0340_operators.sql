-- +goose Up
-- Named accounts of the back office and of auditors (SPEC §10): the token
-- of each, hashed (SHA-256 of 32 random bytes), beside the account's
-- stream ("operator-<name>"), written in the same transaction.
CREATE TABLE operator_tokens (
    name        text        PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- +goose Down
DROP TABLE operator_tokens;
