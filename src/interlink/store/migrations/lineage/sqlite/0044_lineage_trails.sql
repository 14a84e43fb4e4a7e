-- Record-level lineage, one row per subject and write (store/lineage_rows.py): the subject
-- ('customer C000042'), its newest hop's time in microseconds since the epoch, and the hops as
-- one text. An event's publish and delivery, written in the same second, make one row and one
-- index entry instead of two of each. The index holds the subject alone: every column in it
-- costs each write.
-- Each hop of the former table (a row per hop) becomes a row of its own, the hop as a JSON
-- array (its time, kind, actor, target, detail, event type, event id, run id).
CREATE TABLE lineage_trails (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL,
    at INTEGER NOT NULL,
    hops TEXT NOT NULL
);
INSERT INTO lineage_trails (subject, at, hops)
SELECT subject_type || ' ' || subject_key, micros, json_array(micros, kind, actor, target, detail,
    event_type, event_id, run_id)
FROM (
    SELECT
        *,
        CAST(strftime('%s', at) AS INTEGER) * 1000000 + CAST(substr(at, 21, 6) AS INTEGER)
            AS micros
    FROM lineage_hops
)
ORDER BY id;
DROP TABLE lineage_hops;
CREATE INDEX lineage_trails_subject ON lineage_trails (subject);
