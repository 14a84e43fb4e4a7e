-- Estate revisions. Version 0001 also creates admin_tokens (admin_tokens/), in one transaction.

CREATE TABLE revisions (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hash TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL,
    applied_by TEXT NOT NULL,
    source TEXT NOT NULL,
    summary JSONB NOT NULL,
    object_hashes JSONB NOT NULL
);

CREATE INDEX revisions_hash_idx ON revisions (hash);
