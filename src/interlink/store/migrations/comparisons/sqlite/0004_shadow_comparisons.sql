-- A route's answers from its shadow upstream compared with its primary's, per period.
CREATE TABLE shadow_comparisons (
    route TEXT NOT NULL,
    period_start TEXT NOT NULL,
    compared INTEGER NOT NULL,
    matched INTEGER NOT NULL,
    PRIMARY KEY (route, period_start)
);

-- How often each field (a JSON pointer, array indexes as *) differed, per route and period.
CREATE TABLE shadow_comparison_fields (
    route TEXT NOT NULL,
    period_start TEXT NOT NULL,
    field TEXT NOT NULL,
    mismatches INTEGER NOT NULL,
    PRIMARY KEY (route, period_start, field)
);
