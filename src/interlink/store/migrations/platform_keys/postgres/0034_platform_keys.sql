-- The platform's signing keys for the OAuth2 tokens the gateway issues. The newest signs;
-- older ones stay (and are published) until the tokens they signed have expired.
CREATE TABLE platform_keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    -- PKCS#8 PEM of the private key.
    private_pem TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
