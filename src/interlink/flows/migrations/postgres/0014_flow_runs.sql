-- Flow runs and their step checkpoints; JSON is kept as text, read alike on both dialects.
-- A run pins the flow's definition (its spec as JSON and a hash of it), so a run resumed
-- after a restart or an estate change follows the steps it started with. `step` points at
-- the next step to run; a step's output is written together with the move of that pointer,
-- so a completed step is never run again.
CREATE TABLE flow_runs (
    id TEXT PRIMARY KEY,
    flow TEXT NOT NULL,
    revision TEXT NOT NULL,
    definition TEXT NOT NULL,
    trigger TEXT NOT NULL,
    input TEXT NOT NULL,
    status TEXT NOT NULL,
    step INTEGER NOT NULL,
    context TEXT NOT NULL,
    error TEXT,
    -- The engine that runs it, until when; a run whose lease lapsed is taken over on recovery.
    owner TEXT,
    lease_until TIMESTAMPTZ,
    started_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ
);
CREATE INDEX flow_runs_pending ON flow_runs (status, lease_until);
CREATE INDEX flow_runs_flow ON flow_runs (flow, started_at);

-- One row per step of a run and phase (forward, or compensate for a saga's undo call).
CREATE TABLE flow_steps (
    run_id TEXT NOT NULL REFERENCES flow_runs (id) ON DELETE CASCADE,
    phase TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    status TEXT NOT NULL,
    output TEXT,
    error TEXT,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    PRIMARY KEY (run_id, phase, step_index)
);
