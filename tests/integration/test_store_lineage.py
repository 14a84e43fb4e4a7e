"""The lineage hops repository on both stores: recorded, traced by subject, purged by age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from interlink.runtime.lineage import purge_due
from interlink.store import Hop, Store, database, open_store
from interlink.store.lineage import micros
from interlink.store.migrations import Dialect, load_migrations

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


def _rows(store: Store) -> list[tuple[str, int, str]]:
    with store.db.session() as session:
        found = session.fetchall("SELECT subject, at, hops FROM lineage_trails ORDER BY id")
    return [(subject, at, hops) for subject, at, hops in found]


def test_a_subjects_hops_of_one_write_are_one_row(store_url: str) -> None:
    odd = "step \x1e\x1f[odd]"  # the separators of a row's text, in a field: written as JSON
    with open_store(store_url) as store:
        store.migrate()
        store.lineage.record(
            [
                _hop("C1", 0),
                _hop("C2", 0),
                Hop(
                    "customer",
                    "C1",
                    T0 + timedelta(seconds=1),
                    "transformed",
                    "Flow/f",
                    "Flow/f",
                    odd,
                ),
                _hop("C1", 0, "delivered", "System/erp"),  # recorded after, at the same time
                _hop("C1", 2),  # minutes later: a row of its own
            ]
        )
        rows = _rows(store)  # in subject order, each subject's in time order
        assert [(key, at, hops.count("\x1e") + 1) for key, at, hops in rows] == [
            ("customer C1", micros(T0 + timedelta(seconds=1)), 3),  # the newest hop's time
            ("customer C1", micros(T0 + timedelta(minutes=2)), 1),
            ("customer C2", micros(T0), 1),
        ]
        hops = store.lineage.trace("customer", "C1")
        assert [(h.at - T0, h.kind, h.detail) for h in hops] == [
            (timedelta(0), "published", ""),
            (timedelta(0), "delivered", ""),
            (timedelta(seconds=1), "transformed", odd),
            (timedelta(minutes=2), "published", ""),
        ]
        # A row is read for any of its hops at or after --since, its older ones left out.
        since = store.lineage.trace("customer", "C1", since=T0 + timedelta(seconds=1))
        assert [h.kind for h in since] == ["transformed", "published"]
        assert [h.kind for h in store.lineage.trace("customer", "C1", limit=2)] == [
            "transformed",
            "published",
        ]
        # A row goes when its newest hop is past the retention: C2's, not yet C1's first.
        assert store.lineage.purge(T0 + timedelta(seconds=1)) == 1
        assert store.lineage.trace("customer", "C1")[0].kind == "published"
        assert store.lineage.purge(T0 + timedelta(seconds=2)) == 1
        assert [h.kind for h in store.lineage.trace("customer", "C1")] == ["published"]


def test_hops_stored_a_row_each_are_kept_by_the_migration(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dialect: Dialect = "sqlite" if store_url.startswith("sqlite") else "postgres"
    before = [m for m in load_migrations(dialect) if m.version < "0044"]
    monkeypatch.setattr(database, "load_migrations", lambda _: before)
    columns = "subject_type, subject_key, at, kind, actor, target, detail, event_id"
    with open_store(store_url) as store:
        store.migrate()
        with store.db.transaction() as session:
            session.executemany(
                f"INSERT INTO lineage_hops ({columns}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        "customer",
                        "C1",
                        store.db.ts(T0),
                        "published",
                        "System/crm",
                        "Event/c",
                        "",
                        "e1",
                    ),
                    (
                        "customer",
                        "C1",
                        store.db.ts(T0 + timedelta(microseconds=1500)),
                        "written",
                        "Flow/f",
                        "System/dwh",
                        "write \x1ecustomers",
                        "e1",
                    ),
                ],
            )
        monkeypatch.undo()
        assert "0044" in store.migrate()
        assert store.lineage.trace("customer", "C1") == [
            Hop("customer", "C1", T0, "published", "System/crm", "Event/c", "", "", "e1"),
            Hop(
                "customer",
                "C1",
                T0 + timedelta(microseconds=1500),
                "written",
                "Flow/f",
                "System/dwh",
                "write \x1ecustomers",
                "",
                "e1",
            ),
        ]
        assert store.lineage.purge(T0 + timedelta(milliseconds=1)) == 1
