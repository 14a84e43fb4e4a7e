-- Requests per UTC hour from a consumer ('' when none was authenticated) through a gateway
-- route to an upstream System, as the gateway observed them.
CREATE TABLE observed_connections (
    hour TEXT NOT NULL,
    consumer TEXT NOT NULL,
    route TEXT NOT NULL,
    system TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (hour, consumer, route, system)
);
