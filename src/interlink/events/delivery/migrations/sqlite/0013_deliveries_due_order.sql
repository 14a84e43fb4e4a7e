-- What is due next, in the exact order dispatch takes it: the scan stops at the LIMIT
-- instead of reading a whole group of equal times to sort it (an ordered subscription's
-- backlog of a few keys made every read visit the whole backlog).
DROP INDEX deliveries_due_idx;
CREATE INDEX deliveries_due_idx ON deliveries (subscription, next_at, seq, replay)
    WHERE state = 'pending';
