-- +goose Up
-- Mail that cannot wait does not wait: a verification code or a
-- set-password link (priority 0) is leased before any order confirmation
-- (priority 1), and by a sender lane of its own, however long the queue of
-- the others.
ALTER TABLE mail_outbox ADD COLUMN priority smallint NOT NULL DEFAULT 1;
UPDATE mail_outbox SET priority = 0
WHERE kind IN ('verification_code', 'access', 'password_reset', 'login_reminder') AND sent_at IS NULL AND failed_at IS NULL;
CREATE INDEX mail_outbox_due_by_priority ON mail_outbox (priority, next_attempt_at, id) WHERE sent_at IS NULL AND failed_at IS NULL;

-- +goose Down
DROP INDEX mail_outbox_due_by_priority;
ALTER TABLE mail_outbox DROP COLUMN priority;
