"""A data-plane node following a control plane served on loopback, in this process: it takes
each newer revision, keeps its last good one when a newer one will not run (and reports why),
and never goes back to an older one."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import uvicorn

from interlink.admin.app import create_app
from interlink.estate.kinds import Plan
from interlink.events.backends.embedded import EmbeddedBus
from interlink.runtime.bundle import estate_files, pack
from interlink.runtime.dataplane import DataPlane, open_data_plane
from interlink.runtime.lastgood import load_last_good
from interlink.runtime.nodes import NodeReport
from interlink.runtime.runtime import Runtime
from interlink.runtime.serve import start_mesh
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot, compile_snapshot
from tests.integration.cluster import plan_estate


def limit_of(snapshot: Snapshot) -> int:
    (plan,) = snapshot.estate.of(Plan)
    return plan.spec.limits[0].requests


@contextlib.asynccontextmanager
async def control_plane(runtime: Runtime) -> AsyncIterator[str]:
    """The runtime's admin API on a loopback port, for as long as the block runs."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(create_app(runtime), log_config=None, access_log=False, lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await runtime.stop_waiting()
        await task
        sock.close()


@contextlib.asynccontextmanager
async def data_plane(cp: Runtime, token: str, state: Path) -> AsyncIterator[Runtime]:
    """A data-plane node of ``cp`` (served meanwhile) with its state in ``state``."""
    async with control_plane(cp) as url:
        settings = ServeSettings(
            state, control_plane=url, control_plane_token=token, state_dir=state
        )
        dp = await asyncio.to_thread(open_data_plane, settings)
        try:
            yield dp
        finally:
            dp.close()


def test_a_revision_that_will_not_run_is_reported_and_the_last_good_one_kept(
    tmp_path: Path, store_url: str
) -> None:
    cp = Runtime.open(ServeSettings(plan_estate(tmp_path / "cp", 100), store_url=store_url))
    token, _ = cp.store.tokens.create("dataplane", "edge-1")
    state = tmp_path / "edge"

    async def scenario() -> None:
        async with data_plane(cp, token, state) as dp:
            await follow(dp)

    async def follow(dp: Runtime) -> None:
        assert dp.store.db.dialect == "sqlite"  # its own store, whatever the control plane's
        assert dp.control_plane_reachable is True
        first = dp.snapshot
        assert first.revision is not None
        assert first.revision.id == 1
        assert limit_of(first) == 100
        plane = DataPlane(dp, NodeReport(dp, "127.0.0.1:1", "127.0.0.1:2"))
        assert await plane.check() is False  # nothing newer

        # A revision whose files do not load: not run, not kept, and reported.
        broken = pack({"estate.yaml": b"apiVersion: interlink/v1\nkind: Nonsense\n"})
        summary: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
        await asyncio.to_thread(
            cp.store.revisions.record, "ab" * 32, "test", "test", summary, {}, broken
        )
        assert await plane.check() is False
        assert plane.failed is not None
        assert plane.failed[0] == 2
        assert dp.snapshot is first
        assert dp.behind_for() is not None
        health = plane.status()["health"]
        assert health["revision"].startswith("cannot run revision 2: ")
        kept = await asyncio.to_thread(load_last_good, state)
        assert kept is not None
        assert kept[0].id == 1
        assert await plane.check() is False  # not fetched again until a newer one comes

        # The next good revision is taken, and becomes the last good one.
        newer = pack(estate_files(compile_snapshot(plan_estate(tmp_path / "b", 7)).estate))
        assert (await cp.apply(newer, "test")).ok
        assert await plane.check() is True
        assert dp.snapshot.revision is not None
        assert dp.snapshot.revision.id == 3
        assert limit_of(dp.snapshot) == 7
        assert plane.failed is None
        assert dp.behind_for() is None
        assert plane.status()["health"]["revision"] == "ok"
        kept = await asyncio.to_thread(load_last_good, state)
        assert kept is not None
        assert kept[0].id == 3

        # Never back to an older revision, whatever offers it.
        assert await dp.run_snapshot(first, "test") is False
        assert dp.snapshot.revision.id == 3

        # A revision recorded without its content cannot run here either: reported the same way.
        await asyncio.to_thread(cp.store.revisions.record, "cd" * 32, "test", "test", summary, {})
        assert await plane.check() is False
        assert plane.failed is not None
        assert plane.failed[0] == 4
        assert "no estate content is stored" in plane.status()["health"]["revision"]
        assert dp.snapshot.revision.id == 3

        # Its report is its row in the control plane's node list.
        await plane.plane.report(plane.node.id, plane.status())
        (row,) = [n for n in cp.store.nodes.list() if n.id == plane.node.id]
        assert (row.revision_id, row.gateway_address) == (3, "127.0.0.1:2")

        # The node's own audit log: each revision it took from the control plane, or not.
        taken = [
            (e.details.get("revision"), e.result, e.who_name)
            for e in await asyncio.to_thread(dp.store.audit.list)
            if e.details.get("source") == "control plane"
        ]
        assert taken == [(2, "failed", "system"), (3, "ok", "system"), (4, "failed", "system")]
        await plane.close()

    try:
        asyncio.run(scenario())
    finally:
        cp.close()


def test_a_node_started_without_its_control_plane_runs_the_last_good_revision(
    tmp_path: Path,
) -> None:
    cp = Runtime.open(ServeSettings(plan_estate(tmp_path / "cp", 100)))
    token, _ = cp.store.tokens.create("dataplane", "edge-1")
    state = tmp_path / "edge"
    holder: dict[str, str] = {}

    async def first_start() -> None:
        async with control_plane(cp) as url:
            holder["url"] = url
            settings = ServeSettings(
                state, control_plane=url, control_plane_token=token, state_dir=state
            )
            (await asyncio.to_thread(open_data_plane, settings)).close()

    try:
        asyncio.run(first_start())
    finally:
        cp.close()
    # The control plane is gone: the node starts from disk, and knows it is away.
    settings = ServeSettings(
        state, control_plane=holder["url"], control_plane_token=token, state_dir=state
    )
    dp = open_data_plane(settings)
    try:
        assert dp.control_plane_reachable is False
        assert dp.snapshot.revision is not None
        assert dp.snapshot.revision.id == 1
        assert limit_of(dp.snapshot) == 100
    finally:
        dp.close()


def test_a_data_plane_node_keeps_its_events_in_its_own_log_when_the_platform_names_nats(
    tmp_path: Path, store_url: str
) -> None:
    nats = {"events": {"backend": "nats", "url": "nats://127.0.0.1:9"}}
    cp = Runtime.open(
        ServeSettings(plan_estate(tmp_path / "cp", 100, platform=nats), store_url=store_url)
    )
    token, _ = cp.store.tokens.create("dataplane", "edge-1")
    state = tmp_path / "edge"

    async def scenario() -> None:
        async with data_plane(cp, token, state) as dp:
            assert dp.snapshot.estate.platform.spec.events.backend == "nats"
            mesh = await start_mesh(dp)  # NATS at port 9 is never asked
            try:
                assert isinstance(mesh.bus, EmbeddedBus)
                assert mesh.bus.path == state / "events.db"
            finally:
                await mesh.close()

    try:
        asyncio.run(scenario())
    finally:
        cp.close()
