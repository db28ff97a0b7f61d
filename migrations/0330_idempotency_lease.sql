-- +goose Up
-- A pending Idempotency-Key is a short lease held by one request (holder):
-- a server killed mid-request leaves it pending, and a retry may take it
-- over once the lease ran out; the request that lost it can no longer
-- commit under that key (the command side checks the holder).
ALTER TABLE idempotency_keys ADD COLUMN holder uuid;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN holder;
