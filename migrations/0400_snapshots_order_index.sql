-- +goose Up
-- Snapshots: an aggregate's state at a version of its stream, written by the
-- command side in the same transaction as the command that loaded it, so a
-- long stream is folded from its snapshot and the few events after it. The
-- event store keeps them as opaque bytes; kind names the aggregate and
-- schema the encoding of its state: a reader that wants another schema (the
-- aggregate changed) ignores the row and folds the stream from the start.
-- A snapshot is a cache: deleting every row changes nothing but speed.
CREATE TABLE snapshots (
    stream_id       text        NOT NULL,
    kind            text        NOT NULL,
    schema_version  integer     NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    data            bytea       NOT NULL,
    taken_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (stream_id, kind)
);

-- Where each order's events are in its contract's order stream
-- ("orders-<contract>"), so that completing or rejecting order #N loads its
-- two events, not the contract's N orders. Kept by the database itself
-- (trigger on insert into events, same transaction), so every writer keeps
-- it; filled from the stored events here. Events are only read.
CREATE TABLE order_events (
    ref             text   NOT NULL,
    stream_id       text   NOT NULL,
    stream_version  bigint NOT NULL,
    PRIMARY KEY (ref, stream_version)
);

INSERT INTO order_events (ref, stream_id, stream_version)
SELECT data->>'ref', stream_id, stream_version FROM events
WHERE event_type IN ('OrderPlaced', 'OrderCompleted', 'OrderRejected') AND data->>'ref' IS NOT NULL
ON CONFLICT DO NOTHING;

-- +goose StatementBegin
CREATE FUNCTION order_events_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.data->>'ref' IS NOT NULL THEN
        INSERT INTO order_events (ref, stream_id, stream_version)
        VALUES (NEW.data->>'ref', NEW.stream_id, NEW.stream_version)
        ON CONFLICT DO NOTHING;
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER events_order_index AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.event_type IN ('OrderPlaced', 'OrderCompleted', 'OrderRejected'))
    EXECUTE FUNCTION order_events_index();

-- +goose Down
DROP TRIGGER events_order_index ON events;
DROP FUNCTION order_events_index();
DROP TABLE order_events;
DROP TABLE snapshots;
