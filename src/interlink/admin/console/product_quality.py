"""A product's quality results as the console shows them: each rule its contract declares
with the outcome the last refresh recorded for it, and its freshness against its rule.

A refresh records only the rules it found broken (products/history.py), so a rule is
*passed* when a refresh judged the rules and broke none of that rule and column, *failed*
with what was found when it did, and *not judged* when the refresh failed before the rules
were judged (its source down, a column missing or of another type). A virtual product's rules
are judged on each read instead (all but uniqueness, the row count and freshness, which need
the whole data), so it has no recorded outcome.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from interlink.estate.kinds.data import DataContract, Freshness
from interlink.products.history import RefreshRecord

#: The rules quality.py judges; a failed refresh whose violations hold none of these failed
#: before they were judged.
JUDGED: Final = frozenset(
    {"nullable", "unique", "allowed", "minimum", "maximum", "pattern", "rowCount", "freshness"}
)


def rules(contract: DataContract, freshness: Freshness | None) -> list[tuple[str, str | None, str]]:
    """Every rule the contract declares: (rule, column, its threshold in words)."""
    found: list[tuple[str, str | None, str]] = []
    for c in contract.columns:
        if not c.nullable:
            found.append(("nullable", c.name, "no null value"))
        if c.unique:
            found.append(("unique", c.name, "no value repeated"))
        if c.allowed is not None:
            found.append(("allowed", c.name, "one of " + ", ".join(map(_said, c.allowed))))
        if c.minimum is not None:
            found.append(("minimum", c.name, f"at least {_said(c.minimum)}"))
        if c.maximum is not None:
            found.append(("maximum", c.name, f"at most {_said(c.maximum)}"))
        if c.pattern is not None:
            found.append(("pattern", c.name, f"matches {c.pattern}"))
    bounds = contract.row_count
    if bounds is not None:
        said = [f"at least {bounds.min}" if bounds.min is not None else ""]
        said.append(f"at most {bounds.max}" if bounds.max is not None else "")
        found.append(("rowCount", None, " and ".join(s for s in said if s) + " rows"))
    if freshness is not None and freshness.column:
        found.append(("freshness", freshness.column, f"newest at most {freshness.max_age:g} s old"))
    return found


def _said(value: object) -> str:
    """A bound as the estate would write it: 0, not 0.0."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def checks(
    contract: DataContract, freshness: Freshness | None, virtual: bool, last: RefreshRecord | None
) -> list[dict[str, Any]]:
    """Each declared rule with its outcome at the ``last`` refresh and what it found."""
    broken = {(v.rule, v.column): v.message for v in last.violations} if last else {}
    judged = last is not None and (
        last.outcome == "ok" or any(rule in JUDGED for rule, _ in broken)
    )
    out: list[dict[str, Any]] = []
    for rule, column, threshold in rules(contract, freshness):
        found = broken.get((rule, column))
        if virtual:
            outcome = "on each read" if rule not in ("unique", "rowCount", "freshness") else "—"
        elif found is not None:
            outcome = "failed"
        elif judged:
            outcome = "passed"
        else:
            outcome = "not judged" if last is not None else "no result yet"
        out.append(
            {
                "rule": rule,
                "column": column,
                "threshold": threshold,
                "outcome": outcome,
                "found": found,
            }
        )
    return out


def freshness_now(
    freshness: Freshness | None, last_good: RefreshRecord | None, now: datetime
) -> dict[str, Any] | None:
    """The age of the data a materialised product serves (its last good refresh) and, when
    it declares a freshness rule, whether that age keeps it; None without a good refresh."""
    if last_good is None:
        return None
    age = (now - last_good.finished_at).total_seconds()
    state = None if freshness is None else ("ok" if age <= freshness.max_age else "stale")
    return {"age": max(age, 0.0), "state": state}
