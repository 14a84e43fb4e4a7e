-- The encrypted secret store: one row per version of a secret, sealed by envelope encryption.
-- The value is encrypted under a data key of its own (AES-256-GCM, nonce first), and the data
-- key under a master key that is never stored: only its id says which one wrapped it.
CREATE TABLE secrets (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    ciphertext BYTEA NOT NULL,
    wrapped_key BYTEA NOT NULL,
    key_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);

-- Rewrapping finds the rows still under another master key.
CREATE INDEX secrets_key_id_idx ON secrets (key_id);

-- A counter moved by every new or removed secret value, whoever writes it: running nodes read
-- this one row to learn whether a value they resolved may have changed. Rewrapping updates
-- only the wrapped key, never a value, so it does not move it.
CREATE TABLE secrets_version (
    id BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    version BIGINT NOT NULL
);

INSERT INTO secrets_version (id, version) VALUES (TRUE, 0);

-- The search path is fixed to the one of the migration, so the trigger finds the counter from
-- any session.
CREATE FUNCTION secrets_bump_version() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
BEGIN
    UPDATE secrets_version SET version = version + 1;
    RETURN NULL;
END
$$;

CREATE TRIGGER secrets_changed
AFTER INSERT OR DELETE OR TRUNCATE ON secrets
FOR EACH STATEMENT EXECUTE FUNCTION secrets_bump_version();
