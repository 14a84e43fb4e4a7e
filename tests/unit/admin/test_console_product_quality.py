"""Each contract rule's outcome at a product's last refresh, and the served data's age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from interlink.admin.console.product_quality import checks, freshness_now
from interlink.estate.kinds.data import DataContract, Freshness
from interlink.products.history import Outcome, RefreshRecord, Violation

CONTRACT = DataContract.model_validate(
    {
        "rowCount": {"min": 1, "max": 10},
        "columns": [
            {"name": "id", "type": "string", "nullable": False, "unique": True},
            {"name": "amount", "type": "number", "minimum": 0, "maximum": 9.5},
            {"name": "at", "type": "timestamp"},
        ],
    }
)
FRESH = Freshness.model_validate({"maxAge": "1h", "column": "at"})
NOW = datetime(2026, 1, 1, 12, tzinfo=UTC)


def refresh(outcome: Outcome, *violations: Violation) -> RefreshRecord:
    return RefreshRecord(1, "p", NOW, NOW, outcome, 3, 3, None, None, violations)


def outcomes(last: RefreshRecord | None, virtual: bool = False) -> dict[str, str]:
    found = checks(CONTRACT, FRESH, virtual, last)
    return {f"{c['rule']}:{c['column']}": c["outcome"] for c in found}


def test_each_declared_rule_with_its_threshold() -> None:
    found = checks(CONTRACT, FRESH, False, None)
    assert [(c["rule"], c["column"], c["threshold"]) for c in found] == [
        ("nullable", "id", "no null value"),
        ("unique", "id", "no value repeated"),
        ("minimum", "amount", "at least 0"),
        ("maximum", "amount", "at most 9.5"),
        ("rowCount", None, "at least 1 and at most 10 rows"),
        ("freshness", "at", "newest at most 3600 s old"),
    ]
    assert set(outcomes(None).values()) == {"no result yet"}


def test_a_refresh_passes_fails_or_never_judged_the_rules() -> None:
    assert set(outcomes(refresh("ok")).values()) == {"passed"}
    broken = Violation("unique", "id", "2 value(s) repeated")
    found = outcomes(refresh("failed", broken))
    assert found.pop("unique:id") == "failed"
    assert set(found.values()) == {"passed"}
    # Failed on a column's type: the rules were never judged.
    typed = Violation("type", "amount", "'x' is not a number")
    assert set(outcomes(refresh("failed", typed)).values()) == {"not judged"}
    assert set(outcomes(refresh("failed")).values()) == {"not judged"}  # the source was down
    virtual = outcomes(None, virtual=True)
    assert virtual["nullable:id"] == "on each read"
    assert virtual["unique:id"] == "—"


def test_the_served_data_is_ok_or_stale_against_max_age() -> None:
    good = refresh("ok")
    assert freshness_now(FRESH, good, NOW + timedelta(minutes=10)) == {"age": 600.0, "state": "ok"}
    assert freshness_now(FRESH, good, NOW + timedelta(hours=2)) == {"age": 7200.0, "state": "stale"}
    assert freshness_now(None, good, NOW) == {"age": 0.0, "state": None}
    assert freshness_now(FRESH, None, NOW) is None
