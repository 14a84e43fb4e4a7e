-- A delivered, dropped or discarded row stays behind as a tombstone ('done', its body gone) for
-- a while, so an event the bus hands out again after a crash (enqueued, never acked) is
-- recognised by its key and not sent twice. The worker sweeps tombstones past their retention.
ALTER TABLE deliveries ALTER COLUMN body DROP NOT NULL;
ALTER TABLE deliveries DROP CONSTRAINT deliveries_state_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_state_check
    CHECK (state IN ('pending', 'dead', 'done'));
-- Tombstones to sweep, per subscription, oldest first.
CREATE INDEX deliveries_done_idx ON deliveries (subscription, updated_at) WHERE state = 'done';
