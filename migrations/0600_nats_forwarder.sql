-- +goose Up
-- The checkpoint of the forwarder that copies the event store to NATS
-- JetStream (internal/natsfwd): the position of the last event whose
-- publish JetStream acknowledged. One row per stream name; the forwarder
-- that holds the advisory lock moves it, after the acks, never before.
CREATE TABLE nats_forwarder (
    stream     text        PRIMARY KEY,
    position   bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE nats_forwarder;
