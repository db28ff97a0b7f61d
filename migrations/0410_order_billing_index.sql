-- +goose Up
-- What the billing run needs to know of each order to tell whether a
-- period concerns it: its kind, when it was placed, for how long (a
-- reservation), when it was completed. Kept by a trigger on events, in the
-- appending transaction, like order_events: the run and the pre-invoice
-- then load only the orders of the period, not a contract's whole order
-- book (10,000 orders on a long-lived contract, issue 9).
CREATE TABLE order_billing (
    stream_id       text        NOT NULL,
    ref             text        NOT NULL,
    kind            text        NOT NULL,
    placed_at       timestamptz NOT NULL,
    duration_months integer     NOT NULL,
    completed_at    timestamptz,
    PRIMARY KEY (stream_id, ref)
);
CREATE INDEX order_billing_completed ON order_billing (stream_id, completed_at) WHERE completed_at IS NOT NULL;

INSERT INTO order_billing (stream_id, ref, kind, placed_at, duration_months)
SELECT stream_id, data->>'ref', data->>'kind', (data->>'placed_at')::timestamptz, coalesce((data->>'duration_months')::integer, 0)
FROM events WHERE event_type = 'OrderPlaced' AND data->>'ref' IS NOT NULL
ON CONFLICT DO NOTHING;

UPDATE order_billing b SET completed_at = (e.data->>'completed_at')::timestamptz
FROM events e
WHERE e.event_type = 'OrderCompleted' AND e.stream_id = b.stream_id AND e.data->>'ref' = b.ref;

-- +goose StatementBegin
CREATE FUNCTION order_billing_index() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.data->>'ref' IS NULL THEN
        RETURN NULL;
    END IF;
    IF NEW.event_type = 'OrderPlaced' THEN
        INSERT INTO order_billing (stream_id, ref, kind, placed_at, duration_months)
        VALUES (NEW.stream_id, NEW.data->>'ref', NEW.data->>'kind', (NEW.data->>'placed_at')::timestamptz,
                coalesce((NEW.data->>'duration_months')::integer, 0))
        ON CONFLICT DO NOTHING;
    ELSE
        UPDATE order_billing SET completed_at = (NEW.data->>'completed_at')::timestamptz
        WHERE stream_id = NEW.stream_id AND ref = NEW.data->>'ref';
    END IF;
    RETURN NULL;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER events_order_billing AFTER INSERT ON events
    FOR EACH ROW WHEN (NEW.event_type IN ('OrderPlaced', 'OrderCompleted'))
    EXECUTE FUNCTION order_billing_index();

-- +goose Down
DROP TRIGGER events_order_billing ON events;
DROP FUNCTION order_billing_index();
DROP TABLE order_billing;
