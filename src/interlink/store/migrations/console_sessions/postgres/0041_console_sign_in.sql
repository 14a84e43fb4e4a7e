-- One-time sign-in links of the console: a random code in a link stands for an admin token
-- (by its id) until it is used once or expires. Only the SHA-256 of the code is kept.
CREATE TABLE console_links (
    code_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX console_links_expires ON console_links (expires_at);
-- Failed console sign-ins per client address and minute: past the limit, sign-in answers 429.
-- Counted here, so every node behind a load balancer refuses the same client.
CREATE TABLE console_sign_in_failures (
    client TEXT NOT NULL,
    window_start TIMESTAMPTZ NOT NULL,
    failures INTEGER NOT NULL,
    PRIMARY KEY (client, window_start)
);
CREATE INDEX console_sign_in_failures_window ON console_sign_in_failures (window_start);
