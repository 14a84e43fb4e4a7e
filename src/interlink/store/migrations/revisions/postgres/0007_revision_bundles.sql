-- The estate content of each revision (a compressed bundle of its files), kept once per content
-- hash, so any node can run a revision it did not load from its own directory.
CREATE TABLE revision_bundles (
    hash TEXT PRIMARY KEY,
    bundle BYTEA NOT NULL,
    size BIGINT NOT NULL
);
