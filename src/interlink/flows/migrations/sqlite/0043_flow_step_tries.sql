-- A step's failed attempts, as JSON: [{"attempt", "started_at", "ended_at", "error",
-- "retry_at"}], retry_at null when the step gave up. Written only when an attempt fails, so a
-- step that succeeds at once costs nothing more; the run's page draws each attempt from it.
ALTER TABLE flow_steps ADD COLUMN tries TEXT;
