-- Alerts: one row per monitor while it fires (the partial unique index deduplicates), kept
-- after it resolves until the retention purge.
CREATE TABLE alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor TEXT NOT NULL,
    type TEXT NOT NULL,
    severity TEXT NOT NULL,
    target TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('firing', 'resolved')),
    summary TEXT NOT NULL,
    detail TEXT NOT NULL,
    facts TEXT NOT NULL,
    started_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    resolved_at TEXT,
    notified_at TEXT,
    notified_count INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX alerts_firing ON alerts (monitor) WHERE state = 'firing';
CREATE INDEX alerts_resolved ON alerts (resolved_at) WHERE state = 'resolved';

-- Silences: notifications of a monitor's (or a target's) alerts are held until expires_at.
CREATE TABLE alert_silences (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    monitor TEXT,
    target TEXT,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    ended_at TEXT,
    CHECK ((monitor IS NULL) <> (target IS NULL))
);
CREATE INDEX alert_silences_expiry ON alert_silences (expires_at);

-- One message to one channel: queued, tried with backoff by the node holding the sender's
-- lease, and kept with how it went.
CREATE TABLE alert_notifications (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('firing', 'renotify', 'resolved')),
    team TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    due_at TEXT NOT NULL,
    created_at TEXT NOT NULL,
    sent_at TEXT,
    error TEXT
);
CREATE INDEX alert_notifications_due ON alert_notifications (due_at) WHERE state = 'pending';
CREATE INDEX alert_notifications_alert ON alert_notifications (alert_id);
