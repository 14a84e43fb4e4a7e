-- Each refresh of a materialised data product (and each failed read of a virtual one): when,
-- how it ended, the rows it left serving, and the cursor an incremental refresh goes on from.
CREATE TABLE product_refreshes (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'failed')),
    rows_total BIGINT NOT NULL DEFAULT 0,
    rows_added BIGINT NOT NULL DEFAULT 0,
    cursor TEXT,
    error TEXT
);
CREATE INDEX product_refreshes_product ON product_refreshes (product, id);

-- What a failed refresh broke in the product's contract, one row per broken rule.
CREATE TABLE product_violations (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    refresh_id BIGINT NOT NULL REFERENCES product_refreshes (id) ON DELETE CASCADE,
    rule TEXT NOT NULL,
    column_name TEXT,
    message TEXT NOT NULL
);
CREATE INDEX product_violations_refresh ON product_violations (refresh_id);
