-- Connector operations per UTC hour from a caller (a Flow) to a System: calls, the volume they
-- moved (rows, messages or bytes, by operation) and the calls that failed.
CREATE TABLE observed_connector_calls (
    hour TEXT NOT NULL,
    caller TEXT NOT NULL,
    system TEXT NOT NULL,
    direction TEXT NOT NULL,
    operation TEXT NOT NULL,
    calls INTEGER NOT NULL,
    volume INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    PRIMARY KEY (hour, caller, system, direction, operation)
);
