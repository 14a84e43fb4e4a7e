"""The lineage hops repository on both stores: recorded, traced by subject, purged by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from interlink.runtime.lineage import purge_due
from interlink.store import Hop, open_store

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _hop(key: str, minutes: int, kind: str = "published", target: str = "Event/c") -> Hop:
    return Hop("customer", key, T0 + timedelta(minutes=minutes), kind, "System/crm", target)  # type: ignore[arg-type]


def test_hops_are_traced_by_subject_in_time_order_and_purged_by_age(store_url: str) -> None:
    with open_store(store_url) as store:
        store.migrate()
        store.lineage.record(
            [
                _hop("C1", 5, "delivered", "System/erp"),
                _hop("C1", 0),
                _hop("C2", 1),
                Hop(
                    "customer",
                    "C1",
                    T0 + timedelta(minutes=9),
                    "written",
                    "Flow/sync",
                    "System/dwh",
                    "write customers",
                    "customer.updated",
                    "e-1",
                    "run-1",
                ),
            ]
        )
        hops = store.lineage.trace("customer", "C1")
        assert [(h.kind, h.target) for h in hops] == [
            ("published", "Event/c"),
            ("delivered", "System/erp"),
            ("written", "System/dwh"),
        ]
        assert hops[0].at == T0
        assert hops[-1] == Hop(
            "customer",
            "C1",
            T0 + timedelta(minutes=9),
            "written",
            "Flow/sync",
            "System/dwh",
            "write customers",
            "customer.updated",
            "e-1",
            "run-1",
        )
        since = store.lineage.trace("customer", "C1", since=T0 + timedelta(minutes=5))
        assert [h.kind for h in since] == ["delivered", "written"]
        assert [h.kind for h in store.lineage.trace("customer", "C1", limit=1)] == ["written"]
        assert store.lineage.trace("employee", "C1") == []

        assert store.lineage.purge(T0 + timedelta(minutes=2), batch=1) == 1
        assert store.lineage.purge(T0 + timedelta(minutes=2)) == 1
        assert store.lineage.purge(T0 + timedelta(minutes=2)) == 0
        assert [h.kind for h in store.lineage.trace("customer", "C1")] == ["delivered", "written"]
        assert store.lineage.trace("customer", "C2") == []


def test_the_purge_deletes_every_hop_past_the_retention_batch_after_batch(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'store.db'}") as store:
        store.migrate()
        store.lineage.record([_hop(f"C{n}", n) for n in range(12)])
        now = T0 + timedelta(minutes=10, seconds=30)
        # Kept 5 minutes: the hops of minutes 0 to 5 go, in batches of 5000 (one here).
        assert purge_due(store, retention=300.0, now=now) == 6
        assert purge_due(store, retention=300.0, now=now) == 0
        assert [h.subject_key for h in store.lineage.trace("customer", "C6")] == ["C6"]
        assert store.lineage.trace("customer", "C5") == []
