-- What each monitorable target did per minute (span 60) or, past two days, per hour (span
-- 3600): occurrences, failures, latency (sum and a fixed histogram: h0..h12 count those within
-- each bound of interlink.store.signals.LATENCY_BOUNDS) and the last success (epoch seconds).
CREATE TABLE signal_buckets (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    span INTEGER NOT NULL,
    start INTEGER NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    latency_sum REAL NOT NULL,
    h0 INTEGER NOT NULL, h1 INTEGER NOT NULL, h2 INTEGER NOT NULL, h3 INTEGER NOT NULL,
    h4 INTEGER NOT NULL, h5 INTEGER NOT NULL, h6 INTEGER NOT NULL, h7 INTEGER NOT NULL,
    h8 INTEGER NOT NULL, h9 INTEGER NOT NULL, h10 INTEGER NOT NULL, h11 INTEGER NOT NULL,
    h12 INTEGER NOT NULL,
    last_seen REAL,
    PRIMARY KEY (kind, name, span, start)
);
CREATE INDEX signal_buckets_start ON signal_buckets (start);
-- Each Monitor's latest verdict, whichever node evaluated it.
CREATE TABLE monitor_states (
    monitor TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    firing INTEGER NOT NULL,
    at TEXT NOT NULL,
    facts TEXT NOT NULL
);
