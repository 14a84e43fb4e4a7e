-- The encrypted secret store: one row per version of a secret, sealed by envelope encryption.
-- The value is encrypted under a data key of its own (AES-256-GCM, nonce first), and the data
-- key under a master key that is never stored: only its id says which one wrapped it.
CREATE TABLE secrets (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    ciphertext BLOB NOT NULL,
    wrapped_key BLOB NOT NULL,
    key_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (name, version)
);

-- Rewrapping finds the rows still under another master key.
CREATE INDEX secrets_key_id_idx ON secrets (key_id);

-- A counter moved by every new or removed secret value, whoever writes it: running nodes read
-- this one row to learn whether a value they resolved may have changed. Rewrapping updates
-- only the wrapped key, never a value, so it does not move it.
CREATE TABLE secrets_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);

INSERT INTO secrets_version (id, version) VALUES (1, 0);

CREATE TRIGGER secrets_inserted AFTER INSERT ON secrets BEGIN
    UPDATE secrets_version SET version = version + 1 WHERE id = 1;
END;

CREATE TRIGGER secrets_deleted AFTER DELETE ON secrets BEGIN
    UPDATE secrets_version SET version = version + 1 WHERE id = 1;
END;
