-- A delivered, dropped or discarded row stays behind as a tombstone ('done', its body gone) for
-- a while, so an event the bus hands out again after a crash (enqueued, never acked) is
-- recognised by its key and not sent twice. The worker sweeps tombstones past their retention.
-- SQLite cannot change a CHECK constraint or a NOT NULL in place, so the table is rebuilt.

CREATE TABLE deliveries_new (
    subscription TEXT NOT NULL,
    -- The event's sequence in its type's log.
    seq INTEGER NOT NULL,
    -- 0 for live delivery, else the delivery_replays id that copied the event.
    replay INTEGER NOT NULL DEFAULT 0,
    event_id TEXT NOT NULL,
    -- The ordering key; ordered subscriptions deliver one key in seq order.
    key TEXT,
    -- The structured CloudEvent, exactly as the receiver gets it; NULL on a tombstone.
    body BLOB,
    published_at TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    next_at TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'dead', 'done')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    last_status INTEGER,
    last_error TEXT,
    -- The start of the receiver's last response body (a few KiB at most).
    last_response TEXT,
    PRIMARY KEY (subscription, seq, replay)
);

INSERT INTO deliveries_new (subscription, seq, replay, event_id, key, body, published_at,
    attempt, next_at, state, created_at, updated_at, last_status, last_error, last_response)
SELECT subscription, seq, replay, event_id, key, body, published_at, attempt, next_at, state,
    created_at, updated_at, last_status, last_error, last_response FROM deliveries;

DROP TABLE deliveries;
ALTER TABLE deliveries_new RENAME TO deliveries;

-- What is due next, per subscription.
CREATE INDEX deliveries_due_idx ON deliveries (subscription, next_at) WHERE state = 'pending';
-- The head of each ordering key.
CREATE INDEX deliveries_key_idx ON deliveries (subscription, key, seq, replay)
    WHERE state = 'pending';
-- Dead letters, for listing and depth.
CREATE INDEX deliveries_dead_idx ON deliveries (subscription, seq, replay)
    WHERE state = 'dead';
-- Tombstones to sweep, per subscription, oldest first.
CREATE INDEX deliveries_done_idx ON deliveries (subscription, updated_at) WHERE state = 'done';
