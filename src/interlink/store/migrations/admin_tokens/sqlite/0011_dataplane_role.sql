-- The dataplane role: tokens of data-plane nodes, which read revisions and report their status.
-- SQLite cannot change a CHECK constraint in place: the table is built again and filled.
CREATE TABLE admin_tokens_new (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin', 'dataplane')),
    -- Hex SHA-256 of the whole token; the token itself is never stored.
    token_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at TEXT
);

INSERT INTO admin_tokens_new (id, name, role, token_hash, created_at, last_used_at, revoked_at)
SELECT id, name, role, token_hash, created_at, last_used_at, revoked_at FROM admin_tokens;

DROP TABLE admin_tokens;

ALTER TABLE admin_tokens_new RENAME TO admin_tokens;
