-- The delivery queue: events on their way to a subscription's target, and its dead letters.

CREATE TABLE deliveries (
    subscription TEXT NOT NULL,
    -- The event's sequence in its type's log.
    seq BIGINT NOT NULL,
    -- 0 for live delivery, else the delivery_replays id that copied the event.
    replay BIGINT NOT NULL DEFAULT 0,
    event_id TEXT NOT NULL,
    -- The ordering key; ordered subscriptions deliver one key in seq order.
    key TEXT,
    -- The structured CloudEvent, exactly as the receiver gets it.
    body BYTEA NOT NULL,
    published_at TIMESTAMPTZ NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_at TIMESTAMPTZ NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead')),
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    -- The start of the receiver's last response body (a few KiB at most).
    last_response TEXT,
    PRIMARY KEY (subscription, seq, replay)
);

-- What is due next, per subscription.
CREATE INDEX deliveries_due_idx ON deliveries (subscription, next_at) WHERE state = 'pending';
-- The head of each ordering key.
CREATE INDEX deliveries_key_idx ON deliveries (subscription, key, seq, replay)
    WHERE state = 'pending';
-- Dead letters, for listing and depth.
CREATE INDEX deliveries_dead_idx ON deliveries (subscription, seq, replay)
    WHERE state = 'dead';

CREATE TABLE subscription_state (
    name TEXT PRIMARY KEY,
    disabled_at TIMESTAMPTZ,
    disabled_reason TEXT
);

CREATE TABLE delivery_replays (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription TEXT NOT NULL,
    start_seq BIGINT,
    start_time TIMESTAMPTZ,
    end_seq BIGINT,
    end_time TIMESTAMPTZ,
    requested_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    enqueued BIGINT
);
