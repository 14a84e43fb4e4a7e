-- When a run must have ended (its start plus the flow's timeout, or a retry's time plus it);
-- NULL for a flow without a timeout. The step in flight at that time fails and the run's
-- completed calls are compensated; a run waiting past it is woken at it.
ALTER TABLE flow_runs ADD COLUMN deadline TIMESTAMPTZ;
