-- API keys of Consumers (partners, apps, internal systems) for the gateway and event ingestion.
CREATE TABLE consumer_keys (
    id TEXT PRIMARY KEY,
    consumer TEXT NOT NULL,
    name TEXT NOT NULL,
    -- Hex SHA-256 of the whole key; the key itself is never stored.
    key_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);

CREATE INDEX consumer_keys_consumer_idx ON consumer_keys (consumer);
