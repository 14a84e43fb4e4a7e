-- A polling trigger's checkpoint: the cursor its source gave back with the last batch whose
-- runs are all recorded, so a restart or another node taking the trigger over polls on from
-- there. `token` is the lease token of the write: a write with an older token (a node that
-- lost the trigger's lease) is refused, so the cursor never moves back.
CREATE TABLE flow_trigger_checkpoints (
    -- "<flow>:<trigger>"
    trigger_id TEXT PRIMARY KEY,
    -- JSON; NULL until the first batch: the source starts from its configured start.
    cursor TEXT,
    token INTEGER NOT NULL,
    holder TEXT NOT NULL,
    -- Items of the batches checkpointed so far, for operators.
    recorded INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
