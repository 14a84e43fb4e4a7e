-- What each monitorable target did per minute (span 60) or, past two days, per hour (span
-- 3600): occurrences, failures, latency (sum and a fixed histogram: h0..h12 count those within
-- each bound of interlink.store.signals.LATENCY_BOUNDS) and the last success (epoch seconds).
CREATE TABLE signal_buckets (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    span INTEGER NOT NULL,
    start BIGINT NOT NULL,
    count BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    latency_sum DOUBLE PRECISION NOT NULL,
    h0 BIGINT NOT NULL, h1 BIGINT NOT NULL, h2 BIGINT NOT NULL, h3 BIGINT NOT NULL,
    h4 BIGINT NOT NULL, h5 BIGINT NOT NULL, h6 BIGINT NOT NULL, h7 BIGINT NOT NULL,
    h8 BIGINT NOT NULL, h9 BIGINT NOT NULL, h10 BIGINT NOT NULL, h11 BIGINT NOT NULL,
    h12 BIGINT NOT NULL,
    last_seen DOUBLE PRECISION,
    PRIMARY KEY (kind, name, span, start)
);
CREATE INDEX signal_buckets_start ON signal_buckets (start);
-- Each Monitor's latest verdict, whichever node evaluated it.
CREATE TABLE monitor_states (
    monitor TEXT PRIMARY KEY,
    type TEXT NOT NULL,
    firing BOOLEAN NOT NULL,
    at TIMESTAMPTZ NOT NULL,
    facts TEXT NOT NULL
);
