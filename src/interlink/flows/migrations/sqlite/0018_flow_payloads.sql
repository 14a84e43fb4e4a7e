-- Inputs, step outputs and context entries too large to keep inline, stored once per run
-- under their SHA-256; the run and step rows hold {"$payload": digest, "bytes": n} instead.
-- They go with their run when the retention purge deletes it.
CREATE TABLE flow_payloads (
    run_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    body TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (run_id, digest)
);
-- The purge finds the ended runs by age, and the runs a split or flow step started by their
-- parent (only those are indexed by trigger: a top-level run's insert pays nothing for it).
CREATE INDEX flow_runs_ended ON flow_runs (status, finished_at);
CREATE INDEX flow_runs_children ON flow_runs (trigger)
    WHERE trigger LIKE 'split:%' OR trigger LIKE 'flow:%';
