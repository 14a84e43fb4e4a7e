-- Connections the event mesh and the flows observed, per UTC hour: event publishes, deliveries,
-- flow triggers and flow calls. kind says which; source and target are estate keys
-- (Kind/name, '' when unknown); via is how (a route, an Event, a step, a trigger kind).
-- errors are failed attempts (refused, failed, retried); dead the deliveries dead-lettered.
CREATE TABLE observed_links (
    hour TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    target TEXT NOT NULL,
    via TEXT NOT NULL,
    count INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    dead INTEGER NOT NULL,
    PRIMARY KEY (hour, kind, source, target, via)
);
