-- Estate revisions and admin tokens.

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

CREATE TABLE admin_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    -- Hex SHA-256 of the whole token; the token itself is never stored.
    token_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
