-- Record-level lineage: each hop of a data subject's data (published, delivered, transformed,
-- written), looked up by subject and purged by age. One index, the lookup's: every index costs
-- each recorded hop, and the purge walks the ids instead (they grow with time).
CREATE TABLE lineage_hops (
    id INTEGER PRIMARY KEY,
    subject_type TEXT NOT NULL,
    subject_key TEXT NOT NULL,
    at TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '',
    event_type TEXT NOT NULL DEFAULT '',
    event_id TEXT NOT NULL DEFAULT '',
    run_id TEXT NOT NULL DEFAULT ''
);
CREATE INDEX lineage_hops_subject ON lineage_hops (subject_type, subject_key, at);
