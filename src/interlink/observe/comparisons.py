"""A route's shadow comparisons as operators read them: the window asked for and the JSON form.

The CLI (`interlink routes compare`) and the admin API give the same answer, so both read it here.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from interlink.errors import ConfigError
from interlink.estate.durations import parse_duration
from interlink.store import ComparisonSummary


def since_time(value: str, now: datetime | None = None) -> datetime:
    """The moment ``value`` (a duration such as 24h or 7d) before ``now``."""
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ConfigError(f"--since {value!r}: give a duration such as 1h, 24h or 7d") from None
    try:
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC)


def summary_json(summary: ComparisonSummary) -> dict[str, Any]:
    """The summary as the CLI's JSON output and the admin API give it."""
    rate = summary.match_rate
    return {
        "route": summary.route,
        "since": summary.since.isoformat(timespec="seconds"),
        "compared": summary.compared,
        "matched": summary.matched,
        "mismatched": summary.compared - summary.matched,
        "matchRate": None if rate is None else round(rate, 6),
        "fields": [{"field": name, "mismatches": count} for name, count in summary.fields],
    }
