-- Work owned by one node at a time: a lease per piece of work (a subscription's deliveries,
-- reconciling bus resources, a schedule). A released or expired lease keeps its row, so its
-- fencing token only ever grows.
CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    -- Moves on whenever the lease changes hands (or is taken again after it lapsed).
    token BIGINT NOT NULL,
    acquired_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
