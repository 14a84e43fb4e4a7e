-- Estate revisions and admin tokens.
-- Times are ISO 8601 UTC text with microseconds ("2025-01-31T12:00:00.000000+00:00"), so text
-- order is time order. JSON columns hold compact JSON written by the application.

CREATE TABLE revisions (
    -- AUTOINCREMENT so an id is never reused, even after the newest row is deleted.
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    hash TEXT NOT NULL,
    applied_at TEXT NOT NULL,
    applied_by TEXT NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL,
    object_hashes TEXT NOT NULL
);

CREATE INDEX revisions_hash_idx ON revisions (hash);

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    -- Hex SHA-256 of the whole token; the token itself is never stored.
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);
