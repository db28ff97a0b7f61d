-- +goose Up
-- The event store: one append-only table. position packs the appending
-- transaction's id (xid8) in its high bits and a per-transaction counter in
-- its low 20 bits, so position order is transaction order and a reader can
-- expose only positions below the oldest transaction still in flight
-- (gap safety, see eventstore/store.go).
CREATE TABLE events (
    position        bigint      PRIMARY KEY,
    event_id        uuid        NOT NULL UNIQUE,
    stream_id       text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL DEFAULT 1,
    data            jsonb       NOT NULL,
    metadata        jsonb       NOT NULL,
    recorded_at     timestamptz NOT NULL,
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);
CREATE INDEX events_type_position ON events (event_type, position);

-- Stored events are never changed: updates and deletes are refused at the
-- database level, so even a buggy migration or projector cannot rewrite history.
-- +goose StatementBegin
CREATE FUNCTION events_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_are_immutable();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_are_immutable();

-- Checkpoints of the projection runtime, written in the same transaction as
-- the read-model changes they account for.
CREATE TABLE projection_checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL DEFAULT 0,
    version     integer     NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Offsets of message-bus consumer groups (watermill-sql offsets adapter).
CREATE TABLE bus_offsets (
    topic           text   NOT NULL,
    consumer_group  text   NOT NULL,
    offset_acked    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (topic, consumer_group)
);

-- +goose Down
DROP TABLE bus_offsets;
DROP TABLE projection_checkpoints;
DROP TABLE events;
DROP FUNCTION events_are_immutable();
