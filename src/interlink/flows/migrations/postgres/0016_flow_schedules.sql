-- The schedule trigger's record per scheduled flow: the last due time dealt with (fired,
-- caught up or skipped), so a restart or another node taking the schedule over neither fires a
-- due time twice nor misses one silently. A fire is claimed by moving `fired_at` from the value
-- read (compare and set) before its run is recorded; `run_id` is filled in after, so a claim
-- whose run is missing is completed on the next pass, with the input kept for it.
CREATE TABLE flow_schedules (
    flow TEXT PRIMARY KEY,
    -- The schedule as it was read: a changed one starts counting again from when it changed.
    schedule TEXT NOT NULL,
    timezone TEXT NOT NULL,
    fired_at TIMESTAMPTZ NOT NULL,
    run_id TEXT,
    -- The input of a claimed fire, kept until its run is recorded.
    input TEXT,
    outcome TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
