-- How many of a connection's requests failed (a 5xx answer, the upstream's or the gateway's own),
-- for the error rate per route; hours counted before this are 0.
ALTER TABLE observed_connections ADD COLUMN errors BIGINT NOT NULL DEFAULT 0;
