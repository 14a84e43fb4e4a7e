-- How far each subscription's live delivery has taken its event type's log into the queue: a
-- consumer lost on the bus is made again right after this sequence.
CREATE TABLE delivery_positions (
    subscription TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    seq BIGINT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
