-- The platform's signing keys sealed like the secret store's values: the PKCS#8 PEM encrypted
-- under a data key of its own (AES-256-GCM, nonce first), the data key wrapped under a master
-- key that is never stored, key_id naming which. A row written before this migration keeps its
-- plain PEM (key_id NULL) and is still read; the key rotation and `interlink secrets rewrap`
-- seal it in place, one row per UPDATE, when a master key is configured.
ALTER TABLE platform_keys ALTER COLUMN private_pem DROP NOT NULL;
ALTER TABLE platform_keys ADD COLUMN ciphertext BYTEA;
ALTER TABLE platform_keys ADD COLUMN wrapped_key BYTEA;
ALTER TABLE platform_keys ADD COLUMN key_id TEXT;
-- Plain or sealed, never both nor neither.
ALTER TABLE platform_keys ADD CONSTRAINT platform_keys_plain_or_sealed CHECK (
    (private_pem IS NOT NULL AND ciphertext IS NULL AND wrapped_key IS NULL AND key_id IS NULL)
    OR (private_pem IS NULL AND ciphertext IS NOT NULL AND wrapped_key IS NOT NULL
        AND key_id IS NOT NULL)
);
