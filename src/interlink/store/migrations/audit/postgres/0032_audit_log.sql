-- The audit log: who did what, from where, and how it ended; append-only and hash-chained.
-- Each entry's hash covers its content and the previous entry's hash, so an edited, inserted,
-- re-ordered or deleted entry breaks the chain (`interlink audit verify`).
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL,
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

-- The chain's head: the last entry's seq and hash. Appenders lock this one row, so appends
-- from every node on the store are serialized, and a deleted last entry is told from the end.
CREATE TABLE audit_head (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    seq BIGINT NOT NULL,
    hash TEXT NOT NULL
);

INSERT INTO audit_head (id, seq, hash)
VALUES (TRUE, 0, '0000000000000000000000000000000000000000000000000000000000000000');
