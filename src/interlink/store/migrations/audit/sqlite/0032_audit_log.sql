-- The audit log: who did what, from where, and how it ended; append-only and hash-chained.
-- Each entry's hash covers its content and the previous entry's hash, so an edited, inserted,
-- re-ordered or deleted entry breaks the chain (`interlink audit verify`).
-- Times are ISO 8601 UTC text with microseconds, so text order is time order.
CREATE TABLE audit_log (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    who_id TEXT,
    who_name TEXT NOT NULL,
    who_role TEXT,
    address TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    -- The canonical JSON text the hash covers, kept byte for byte.
    details TEXT NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('ok', 'refused', 'failed')),
    reason TEXT,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);

CREATE INDEX audit_log_at_idx ON audit_log (at);
CREATE INDEX audit_log_action_idx ON audit_log (action, seq);

-- The chain's head: the last entry's seq and hash. Appends run in the write transaction, which
-- serializes them; the head tells a deleted last entry from the end of the chain.
CREATE TABLE audit_head (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');
