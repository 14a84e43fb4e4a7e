-- The `interlink serve` nodes on this store: what each runs and when it last said so.
CREATE TABLE nodes (
    id TEXT PRIMARY KEY,
    admin_address TEXT NOT NULL,
    gateway_address TEXT NOT NULL,
    revision_id BIGINT,
    revision_hash TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    heartbeat_at TIMESTAMPTZ NOT NULL,
    health JSONB NOT NULL
);
