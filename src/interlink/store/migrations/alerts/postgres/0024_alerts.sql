-- Alerts: one row per monitor while it fires (the partial unique index deduplicates), kept
-- after it resolves until the retention purge.
CREATE TABLE alerts (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor TEXT NOT NULL,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    facts JSONB NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ,
    notified_at TIMESTAMPTZ,
    notified_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alerts_firing ON alerts (monitor) WHERE state = 'firing';
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE state = 'resolved';

-- Silences: notifications of a monitor's (or a target's) alerts are held until expires_at.
CREATE TABLE alert_silences (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    monitor TEXT,
    target TEXT,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    CHECK ((monitor IS NULL) <> (target IS NULL))
);
CREATE INDEX alert_silences_expiry ON alert_silences (expires_at);

-- One message to one channel: queued, tried with backoff by the node holding the sender's
-- lease, and kept with how it went.
CREATE TABLE alert_notifications (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id BIGINT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('firing', 'renotify', 'resolved')),
    team TEXT NOT NULL,
    channel JSONB NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    sent_at TIMESTAMPTZ,
    error TEXT
);
CREATE INDEX alert_notifications_due ON alert_notifications (due_at) WHERE state = 'pending';
CREATE INDEX alert_notifications_alert ON alert_notifications (alert_id);
