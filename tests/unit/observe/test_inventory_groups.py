"""The inventory of an estate where many Consumers hold a Route's scopes: one declared
connection for the group, the callers seen as rows it covers, impact reaching each holder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.cli.estate import write_example
from interlink.estate.kinds import Consumer, Route
from interlink.estate.loader import load_estate
from interlink.estate.model import Estate
from interlink.observe.impact import impact
from interlink.observe.inventory import (
    ANY,
    GROUPED_OVER,
    Seen,
    declared,
    inventory,
)

NOW = datetime(2026, 3, 10, 12, tzinfo=UTC)
SINCE = NOW - timedelta(days=7)
EXTRA = GROUPED_OVER + 5  # more partners holding customers:read than are listed one by one
GROUP = f"{EXTRA + 2} Consumers holding customers:read"  # and acme-logistics, mobile-app


def _partners(root: Path) -> None:
    docs = [
        f"apiVersion: interlink/v1\nkind: Consumer\nmetadata:\n  name: partner-{i:02d}\n"
        f"  owner: logistics\nspec:\n  type: partner\n  plan: partner\n"
        f"  scopes: [customers:read]\n"
        for i in range(EXTRA)
    ]
    (root / "gateway" / "partners.yaml").write_text("---\n".join(docs))


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Estate:
    root = tmp_path_factory.mktemp("retail") / "estate"
    write_example("retail", root)
    _partners(root)
    found, findings = load_estate(root)
    assert not [f for f in findings if f.severity == "error"]
    return found


def _admitted(estate: Estate) -> set[tuple[str, str, str, str]]:
    """Every (kind, caller, target, route) the Routes admit, one by one: what the inventory
    declared before holders were grouped."""
    out = set()
    consumers = list(estate.of(Consumer))
    for route in estate.of(Route):
        scopes = set(route.spec.auth.scopes) if route.spec.auth else set()
        callers = [c.key for c in consumers if scopes <= set(c.spec.scopes)] if scopes else [ANY]
        targets = [("request", f"System/{u.system}") for u in route.spec.upstreams]
        if route.spec.product is not None:
            targets.append(("read", f"DataProduct/{route.spec.product}"))
        out |= {(k, c, t, route.key) for k, t in targets for c in callers}
    return out


def test_many_holders_are_one_declared_connection_covering_each(estate: Estate) -> None:
    rows = declared(estate)
    group = [c for c in rows if c.source == GROUP]
    assert {c.via for c in group} == {"Route/customers", "Route/customers-v2"}
    assert all(len(c.covers) == EXTRA + 2 for c in group)
    assert all("Consumer/partner-00" in c.covers for c in group)
    # No caller lost: the groups' members and the single rows are exactly what the Routes
    # admit one by one, and no Consumer of a group has a row of its own.
    expanded = {
        (c.kind, caller, c.target, c.via)
        for c in rows
        if c.kind in ("request", "read")
        for caller in (sorted(c.covers) or [c.source])
    }
    assert expanded == _admitted(estate)
    assert not [c for c in rows if c.source == "Consumer/partner-00"]
    # Fewer holders than the threshold stay one row each (customer-360 is read by two).
    reads = {c.source for c in rows if c.kind == "read"}
    assert {"Consumer/acme-logistics", "Consumer/analytics"} == reads


def test_a_caller_seen_is_a_row_the_group_covers_and_a_stranger_is_undeclared(
    estate: Estate,
) -> None:
    hour = NOW - timedelta(hours=2)
    seen = [
        Seen(hour, "request", "Consumer/partner-03", "System/crm", "Route/customers", 40, 2),
        Seen(hour, "request", "Consumer/crm-publisher", "System/crm", "Route/customers", 3),
    ]
    inv = inventory(estate, seen, SINCE, NOW)
    rows = {c.key: c for c in inv.connections}
    used = rows[("request", "Consumer/partner-03", "System/crm", "Route/customers")]
    assert used.declared
    assert not used.undeclared
    assert not used.unused
    assert used.covered_by == GROUP
    assert (used.count, used.errors) == (40, 2)
    assert used.contracts == ["Api/customers-v1 v1 (deprecated)"]
    # The group is said by its caller's row once used; unused where nobody called.
    assert ("request", GROUP, "System/crm", "Route/customers") not in rows
    later = [c for c in inv.connections if c.source == GROUP and c.via == "Route/customers-v2"]
    assert later
    assert all(c.unused for c in later)
    stranger = rows[("request", "Consumer/crm-publisher", "System/crm", "Route/customers")]
    assert stranger.undeclared
    assert stranger.covered_by is None
    summary = inv.summary()
    assert summary["undeclared"] == 1
    assert summary["declared"] == len([c for c in inv.connections if c.declared])


def test_impact_reaches_every_holder_of_a_group(estate: Estate) -> None:
    result = impact(estate, inventory(estate, [], NOW, NOW).connections, "System/crm")
    consumers = set(result.of_kind("Consumer"))
    assert {f"partner-{i:02d}" for i in range(EXTRA)} | {"acme-logistics", "mobile-app"} <= (
        consumers
    )
