-- Signed-in sessions of the console (admin/console): a browser's cookie stands for an admin
-- token until it is idle too long, reaches its end, or is signed out. Stored here, so any node
-- behind a load balancer serves any session. Only the SHA-256 of the session id is kept.
CREATE TABLE console_sessions (
    id_hash TEXT PRIMARY KEY,
    token_id TEXT NOT NULL,
    created_at TEXT NOT NULL,
    -- Pushed forward as the session is used, never past ends_at.
    idle_until TEXT NOT NULL,
    ends_at TEXT NOT NULL
);
CREATE INDEX console_sessions_idle ON console_sessions (idle_until);
