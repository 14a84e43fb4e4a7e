-- Connector operations per UTC hour from a caller (a Flow) to a System: calls, the volume they
-- moved (rows, messages or bytes, by operation) and the calls that failed.
CREATE TABLE observed_connector_calls (
    hour TIMESTAMPTZ NOT NULL,
    caller TEXT NOT NULL,
    system TEXT NOT NULL,
    direction TEXT NOT NULL,
    operation TEXT NOT NULL,
    calls BIGINT NOT NULL,
    volume BIGINT NOT NULL,
    errors BIGINT NOT NULL,
    PRIMARY KEY (hour, caller, system, direction, operation)
);
