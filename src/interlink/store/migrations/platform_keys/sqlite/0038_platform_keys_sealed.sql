-- The platform's signing keys sealed like the secret store's values: the PKCS#8 PEM encrypted
-- under a data key of its own (AES-256-GCM, nonce first), the data key wrapped under a master
-- key that is never stored, key_id naming which. A row written before this migration keeps its
-- plain PEM (key_id NULL) and is still read; the key rotation and `interlink secrets rewrap`
-- seal it in place, one row per UPDATE, when a master key is configured.
-- SQLite cannot relax NOT NULL nor add a CHECK to a table: the table is built again.
CREATE TABLE platform_keys_sealed (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    private_pem TEXT,
    created_at TEXT NOT NULL,
    ciphertext BLOB,
    wrapped_key BLOB,
    key_id TEXT,
    -- Plain or sealed, never both nor neither.
    CHECK (
        (private_pem IS NOT NULL AND ciphertext IS NULL AND wrapped_key IS NULL AND key_id IS NULL)
        OR (private_pem IS NULL AND ciphertext IS NOT NULL AND wrapped_key IS NOT NULL
            AND key_id IS NOT NULL)
    )
);
INSERT INTO platform_keys_sealed (kid, alg, private_pem, created_at)
    SELECT kid, alg, private_pem, created_at FROM platform_keys;
DROP TABLE platform_keys;
ALTER TABLE platform_keys_sealed RENAME TO platform_keys;
