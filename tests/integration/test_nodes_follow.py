"""Several nodes on one store, as separate runtimes in this process: the store's current
revision is what every node runs, whoever recorded it and from whichever directory."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from interlink.estate.kinds import Plan
from interlink.runtime.bundle import estate_files, pack
from interlink.runtime.gateway import worker_estate_dir
from interlink.runtime.runtime import Runtime, revisions_dir, store_url_for
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot, compile_snapshot
from interlink.store import default_store_url
from tests.integration.cluster import plan_estate


def limit_of(snapshot: Snapshot) -> int:
    (plan,) = snapshot.estate.of(Plan)
    return plan.spec.limits[0].requests


class Nodes:
    """Runtimes opened on one store, each from its own estate directory."""

    def __init__(self, tmp_path: Path, store_url: str) -> None:
        self.tmp_path, self.store_url = tmp_path, store_url
        self.opened: list[Runtime] = []

    def directory(self, name: str, per_minute: int) -> Path:
        return plan_estate(self.tmp_path / name, per_minute)

    def open(self, directory: Path) -> Runtime:
        runtime = Runtime.open(ServeSettings(directory, store_url=self.store_url))
        self.opened.append(runtime)
        return runtime


@pytest.fixture
def nodes(tmp_path: Path, store_url: str) -> Iterator[Nodes]:
    made = Nodes(tmp_path, store_url)
    yield made
    for runtime in made.opened:
        runtime.close()


def test_a_reload_on_one_node_is_taken_by_the_other(nodes: Nodes) -> None:
    a = nodes.open(nodes.directory("a", 100))
    b = nodes.open(nodes.directory("b", 100))
    assert a.snapshot.revision == b.snapshot.revision  # the same content: one revision
    assert asyncio.run(b.catch_up()) is False
    nodes.directory("a", 7)
    assert asyncio.run(a.reload("sighup")).changed
    assert b.behind_for() is None
    assert asyncio.run(b.catch_up()) is True
    assert b.snapshot.revision is not None
    assert a.snapshot.revision is not None
    assert b.snapshot.revision.id == a.snapshot.revision.id == 2
    assert b.snapshot.content_hash == a.snapshot.content_hash
    assert limit_of(b.snapshot) == 7
    # B ran it from the store's copy, written out under its own state directory.
    assert b.snapshot.estate.root == revisions_dir(b.settings) / a.snapshot.content_hash
    assert b.store.revisions.list()[0].source == "sighup"
    # Gateway workers (several processes) load the revision through a link moved along.
    links = nodes.tmp_path / "links"
    links.mkdir()
    link = worker_estate_dir(b, links)
    assert link.resolve() == b.snapshot.estate.root
    assert limit_of(compile_snapshot(link)) == 7
    assert worker_estate_dir(a, links).resolve() == a.settings.estate_dir.resolve()


def test_a_node_running_a_revision_from_the_store_keeps_its_own_embedded_store(
    tmp_path: Path,
) -> None:
    a_dir, b_dir = plan_estate(tmp_path / "a", 100), plan_estate(tmp_path / "b", 100)
    a = Runtime.open(ServeSettings(a_dir))
    try:
        plan_estate(a_dir, 7)
        asyncio.run(a.reload("sighup"))
        # B shares A's embedded store, as a second process beside it would.
        settings = ServeSettings(b_dir, store_url=store_url_for(a.settings, a.snapshot))
        b = Runtime.open(settings)
        try:
            # B's directory holds revision 1: it starts on revision 2, from the store's copy.
            assert b.snapshot.estate.root == revisions_dir(settings) / a.snapshot.content_hash
            assert store_url_for(ServeSettings(b_dir), b.snapshot) == default_store_url(
                b_dir.resolve()
            )
        finally:
            b.close()
    finally:
        a.close()


def test_a_following_node_is_woken_by_the_record(nodes: Nodes) -> None:
    a = nodes.open(nodes.directory("a", 100))
    b = nodes.open(nodes.directory("b", 100))
    taken: list[Snapshot] = []

    async def scenario() -> None:
        async def took(snapshot: Snapshot) -> None:
            taken.append(snapshot)

        b.on_reload(took)
        follower = asyncio.create_task(b.follow())
        await asyncio.sleep(0.5)  # the listener is up
        nodes.directory("a", 7)
        await a.reload("api")
        deadline = time.monotonic() + 30
        while not taken and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower

    asyncio.run(scenario())
    assert [limit_of(s) for s in taken] == [7]


def test_a_node_started_from_an_older_directory_runs_the_current_revision(
    nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    old = nodes.directory("old", 100)
    nodes.open(old).close()
    a = nodes.open(nodes.directory("a", 7))  # new content: revision 2, the current one
    assert a.snapshot.revision is not None
    assert a.snapshot.revision.id == 2
    with caplog.at_level(logging.INFO, logger="interlink.runtime"):
        b = nodes.open(old)
    assert b.snapshot.revision is not None
    assert b.snapshot.revision.id == 2
    assert limit_of(b.snapshot) == 7
    assert [r.id for r in b.store.revisions.list()] == [2, 1]  # nothing recorded
    lines = [r.getMessage() for r in caplog.records if "older than the current" in r.getMessage()]
    assert lines == [
        "the estate directory holds revision 1, older than the current revision 2: "
        "running revision 2 from the store"
    ]
    # New content in a directory is still recorded as the current revision at start.
    c = nodes.open(nodes.directory("c", 3))
    assert c.snapshot.revision is not None
    assert c.snapshot.revision.id == 3


def test_a_reload_from_an_older_directory_is_refused(nodes: Nodes) -> None:
    b_dir = nodes.directory("b", 100)
    b = nodes.open(b_dir)
    a = nodes.open(nodes.directory("a", 7))
    assert asyncio.run(b.catch_up())
    result = asyncio.run(b.reload("sighup"))  # b's directory still holds revision 1
    assert not result.ok
    assert result.refused == (
        "the estate directory holds the content of revision 1, older than the current "
        "revision 2; not applied (to roll back, use `interlink apply`)"
    )
    assert b.snapshot.revision is not None
    assert b.snapshot.revision.id == 2
    # Its directory catching up with the current content is no new revision.
    plan_estate(b_dir, 7)
    again = asyncio.run(b.reload("sighup"))
    assert again.ok
    assert not again.changed
    assert a.store.revisions.head() == (2, a.snapshot.content_hash)


def test_apply_records_a_new_revision_even_for_content_seen_before(nodes: Nodes) -> None:
    old = nodes.directory("old", 100)
    a = nodes.open(old)
    b = nodes.open(nodes.directory("b", 7))
    first = compile_snapshot(old)
    result = asyncio.run(b.apply(pack(estate_files(first.estate)), "token:ci"))
    assert result.ok
    assert result.revision is not None
    assert (result.revision.id, result.revision.hash) == (3, first.content_hash)
    assert (result.revision.source, result.revision.applied_by) == ("apply", "token:ci")
    assert result.revision.summary["changed"] == ["Plan/anonymous"]
    assert limit_of(b.snapshot) == 100
    assert asyncio.run(a.catch_up())  # a ran this content already, under revision 1
    assert a.snapshot.revision is not None
    assert a.snapshot.revision.id == 3


def test_apply_with_errors_changes_nothing(nodes: Nodes) -> None:
    a = nodes.open(nodes.directory("a", 100))
    broken = dict(estate_files(a.snapshot.estate))
    broken["plans.yaml"] = b"apiVersion: interlink/v1\nkind: Plan\nmetadata: {name: x}\nspec: 3\n"
    result = asyncio.run(a.apply(pack(broken), "token:ci"))
    assert not result.ok
    assert result.root is not None
    errors = [f.render(result.root) for f in result.findings if f.severity == "error"]
    assert errors
    assert all(e.startswith("plans.yaml:") for e in errors), errors
    assert [r.id for r in a.store.revisions.list()] == [1]
    assert limit_of(a.snapshot) == 100


def test_a_revision_without_content_leaves_the_node_behind(
    nodes: Nodes, caplog: pytest.LogCaptureFixture
) -> None:
    a = nodes.open(nodes.directory("a", 100))
    a.store.revisions.record("f" * 64, "old-version", "start", {}, {})
    with caplog.at_level(logging.ERROR, logger="interlink.runtime"):
        assert asyncio.run(a.catch_up()) is False
        assert asyncio.run(a.catch_up()) is False
    errors = [r.getMessage() for r in caplog.records]
    assert errors == [
        "cannot run the current revision 2; revision 1 keeps running: revision 2 was recorded "
        "without its estate content; run it from its directory, or record it again with "
        "`interlink apply`"
    ]
    assert a.behind_for() is not None


def test_a_start_keeps_the_content_of_a_revision_recorded_without_it(nodes: Nodes) -> None:
    directory = nodes.directory("a", 100)
    snapshot = compile_snapshot(directory)
    a = nodes.open(directory)
    with a.store.db.transaction() as session:  # as a version without bundles left it
        session.execute("DELETE FROM revision_bundles")
    nodes.open(directory)
    assert a.store.revisions.bundle(snapshot.content_hash) == pack(estate_files(snapshot.estate))


def test_old_revisions_written_out_are_pruned_but_the_running_one_and_the_one_before(
    nodes: Nodes,
) -> None:
    a_dir = nodes.directory("a", 100)
    a = nodes.open(a_dir)
    b = nodes.open(nodes.directory("b", 100))
    seen = []
    for limit in (7, 8, 9, 10):
        plan_estate(a_dir, limit)
        asyncio.run(a.reload("sighup"))
        asyncio.run(b.catch_up())
        seen.append(b.snapshot.estate.root)
        if limit == 8:  # the first was written out long ago, the others just now
            os.utime(seen[0], (0, 0))
    kept = sorted(p for p in revisions_dir(b.settings).iterdir())
    assert kept == sorted(seen[-3:])  # the recent one stays: another node may run it
    assert limit_of(b.snapshot) == 10


@pytest.mark.postgres
def test_a_node_whose_listener_is_cut_off_keeps_following(
    tmp_path: Path, pg_url: str, postgres_server_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    nodes = Nodes(tmp_path, pg_url)
    try:
        a = nodes.open(nodes.directory("a", 100))
        b = nodes.open(nodes.directory("b", 100))
        b.poll_interval = 0.2

        async def scenario() -> None:
            follower = asyncio.create_task(b.follow())
            await asyncio.sleep(0.5)  # the listener is up
            with psycopg.connect(postgres_server_url, autocommit=True) as conn:
                cut = conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = %s",
                    (f'LISTEN "interlink_revisions_{pg_url.rsplit("schema=", 1)[1]}"',),
                ).fetchall()
            assert cut == [(True,)]
            nodes.directory("a", 7)
            await a.reload("api")
            deadline = time.monotonic() + 30
            while limit_of(b.snapshot) != 7 and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            follower.cancel()
            with pytest.raises(asyncio.CancelledError):
                await follower

        with caplog.at_level(logging.WARNING, logger="interlink.runtime"):
            asyncio.run(scenario())
        assert limit_of(b.snapshot) == 7
        assert any("following revisions by polling" in r.getMessage() for r in caplog.records)
    finally:
        for runtime in nodes.opened:
            runtime.close()
