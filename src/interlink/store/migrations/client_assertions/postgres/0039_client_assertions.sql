-- The ids (jti) of the client assertions (RFC 7523) Consumers authenticated with at the
-- gateway's token endpoint, kept until the assertion expires: one used again is refused, on
-- whichever node it arrives.
CREATE TABLE client_assertions (
    consumer TEXT NOT NULL,
    jti TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, jti)
);
CREATE INDEX client_assertions_expiry ON client_assertions (expires_at);
