-- +goose Up
-- A change of email is confirmed through a single-use link sent to the new
-- address (SPEC §10); its token is kept hashed beside the set-password
-- links', with a purpose of its own that the set-password form refuses.
ALTER TABLE password_tokens DROP CONSTRAINT password_tokens_purpose_check;
ALTER TABLE password_tokens ADD CONSTRAINT password_tokens_purpose_check CHECK (purpose IN ('access', 'reset', 'email'));

-- +goose Down
DELETE FROM password_tokens WHERE purpose = 'email';
ALTER TABLE password_tokens DROP CONSTRAINT password_tokens_purpose_check;
ALTER TABLE password_tokens ADD CONSTRAINT password_tokens_purpose_check CHECK (purpose IN ('access', 'reset'));
