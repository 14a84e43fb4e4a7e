-- The keys of idempotency steps: a run of a flow holds its key until expires_at, and another
-- run of that flow with the same key before then ends as a duplicate without side effects.
CREATE TABLE flow_keys (
    flow TEXT NOT NULL,
    key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (flow, key)
);
CREATE INDEX flow_keys_expiry ON flow_keys (expires_at);

-- A run at a wait step is 'waiting' until wake_at; recovery resumes it once that has passed.
ALTER TABLE flow_runs ADD COLUMN wake_at TEXT;
CREATE INDEX flow_runs_waking ON flow_runs (status, wake_at);
