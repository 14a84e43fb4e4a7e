-- Estate revisions. Version 0001 also creates admin_tokens (admin_tokens/), in one transaction.
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
