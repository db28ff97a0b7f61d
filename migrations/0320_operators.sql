-- +goose Up
-- Named back-office operators and auditors (issue 10): each holds a bearer
-- token of their own, so that the events they cause name them. Only the
-- SHA-256 of the token is stored, as for sessions; a revoked operator's
-- token stops working at once (every request looks it up).
CREATE TABLE operators (
    name        text        PRIMARY KEY,
    role        text        NOT NULL CHECK (role IN ('admin', 'auditor')),
    token_hash  bytea       NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

-- +goose Down
DROP TABLE operators;
