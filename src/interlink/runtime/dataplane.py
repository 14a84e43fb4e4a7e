"""A data-plane node: it runs the revisions of a control plane's admin API instead of an estate
directory, keeps the last good one on disk, starts from it and keeps serving while the control
plane is away, and reports its status back."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any, Final

from interlink.errors import AuthError, ConfigError, InterlinkError
from interlink.estate.findings import EstateLoadError
from interlink.runtime.controlplane import ControlPlane, ControlPlaneUnreachable
from interlink.runtime.lastgood import last_good_path, load_last_good, save_last_good
from interlink.runtime.nodes import HEARTBEAT, NodeReport
from interlink.runtime.runtime import (
    ReloadResult,
    Runtime,
    audit_reload,
    revisions_dir,
    run_bundle,
    store_url_for,
)
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot
from interlink.store import Revision, open_store

log = logging.getLogger("interlink.dataplane")

LONG_POLL: Final = 25.0  # seconds the control plane is asked to hold a request for a newer one
RETRY_EVERY: Final = 2.0  # seconds between tries while the control plane is away


def state_dir_of(settings: ServeSettings) -> Path:
    assert settings.state_dir is not None, "not a data-plane node"
    return settings.state_dir


def open_data_plane(settings: ServeSettings) -> Runtime:
    """The runtime of a data-plane node (blocking): the control plane's current revision,
    written to disk as the last good one; or, when the control plane cannot be reached, the
    last good revision on disk. Its store is its own (SQLite under the state directory unless
    ``--store-url`` says otherwise)."""
    assert settings.control_plane is not None
    assert settings.control_plane_token is not None
    snapshot, reachable = asyncio.run(_first_snapshot(settings))
    store = open_store(store_url_for(settings, snapshot))
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    runtime = Runtime(settings, store, snapshot)
    runtime.control_plane_reachable = reachable
    return runtime


async def _first_snapshot(settings: ServeSettings) -> tuple[Snapshot, bool]:
    """The snapshot to start from, and whether the control plane answered."""
    assert settings.control_plane is not None
    assert settings.control_plane_token is not None
    plane = ControlPlane(settings.control_plane, settings.control_plane_token)
    state = state_dir_of(settings)
    try:
        revision = await plane.current()
        if revision is None:
            raise ConfigError(f"the control plane at {plane.url} has no revision yet")
        bundle = await plane.bundle(revision.hash)
    except ControlPlaneUnreachable as exc:
        return await asyncio.to_thread(_from_disk, settings, exc.message), False
    finally:
        await plane.close()
    try:
        snapshot = await asyncio.to_thread(run_bundle, bundle, revision, revisions_dir(settings))
    except (InterlinkError, OSError) as exc:
        failed = f"cannot run the control plane's revision {revision.id}: {_why(exc)}"
        return await asyncio.to_thread(_from_disk, settings, failed), True
    await asyncio.to_thread(_note_older, state, revision)
    await asyncio.to_thread(save_last_good, state, revision, bundle)
    return snapshot, True


def _note_older(state: Path, revision: Revision) -> None:
    """Say so when the control plane's current revision is older than the one on disk: its
    store was replaced or restored. It is the truth all the same, or this node would wait for
    the numbers to catch up."""
    try:
        kept = load_last_good(state)
    except InterlinkError:
        return
    if kept is not None and kept[0].id > revision.id:
        log.warning(
            "the control plane's current revision %d is older than the last good revision %d "
            "on disk (was its store replaced?): running revision %d",
            revision.id,
            kept[0].id,
            revision.id,
        )


def _from_disk(settings: ServeSettings, why: str) -> Snapshot:
    state = state_dir_of(settings)
    found = load_last_good(state)
    if found is None:
        raise ConfigError(
            f"{why}; and there is no last good revision to start from "
            f"({last_good_path(state)} does not exist)"
        )
    revision, bundle = found
    log.warning("%s: starting from the last good revision %d on disk", why, revision.id)
    return run_bundle(bundle, revision, revisions_dir(settings))


def _why(exc: BaseException) -> str:
    return exc.message if isinstance(exc, InterlinkError) else str(exc)


class DataPlane:
    """Follows the control plane's current revision and reports this node's status to it, for
    as long as the node runs (the tasks of :meth:`follow` and :meth:`report`)."""

    def __init__(self, runtime: Runtime, report: NodeReport) -> None:
        settings = runtime.settings
        assert settings.control_plane is not None
        assert settings.control_plane_token is not None
        self.runtime = runtime
        self.node = report
        self.plane = ControlPlane(settings.control_plane, settings.control_plane_token)
        # The newer revision this node cannot run, and why: reported, and not tried again
        # until a newer one comes (or SIGHUP forgets it).
        self.failed: tuple[int, str] | None = None

    async def follow(self) -> None:
        """Take each newer revision as the control plane records it, until cancelled."""
        while True:
            try:
                await self.check(LONG_POLL)
            except InterlinkError as exc:  # away, or refusing: said once, then tried again
                self._lost(exc.message)
                await asyncio.sleep(RETRY_EVERY)
            except Exception:  # a bug must not end following for the process's lifetime
                log.exception("following the control plane failed; trying again")
                await asyncio.sleep(RETRY_EVERY)

    async def close(self) -> None:
        await self.plane.close()

    async def check(self, wait: float = 0.0) -> bool:
        """Ask for a revision newer than the one running (and than one that failed), waiting up
        to ``wait`` seconds; run it when it comes. Whether this node took one."""
        running = self.runtime.snapshot.revision
        after = max(running.id if running else 0, self.failed[0] if self.failed else 0)
        revision = await self.plane.current(after=after, wait=wait)
        self._reached()
        if revision is None:
            return False
        try:
            bundle = await self.plane.bundle(revision.hash)
        except (ControlPlaneUnreachable, AuthError):
            raise
        except InterlinkError as exc:  # e.g. recorded without its content: this one cannot run
            await self._record(revision, self._cannot_run(revision, exc))
            return False
        try:
            fresh = await asyncio.to_thread(
                run_bundle, bundle, revision, revisions_dir(self.runtime.settings)
            )
        except (InterlinkError, OSError) as exc:
            await self._record(revision, self._cannot_run(revision, exc))
            return False
        await asyncio.to_thread(
            save_last_good, state_dir_of(self.runtime.settings), revision, bundle
        )
        self.failed = None
        self.runtime.behind_since = None
        took = await self.runtime.run_snapshot(fresh, "control plane")
        if took:
            await self._record(revision, None)
        return took

    async def _record(self, revision: Revision, failed: str | None) -> None:
        """The revision taken, or why not, in this node's own store's audit log."""
        result = ReloadResult(ok=failed is None, revision=revision, changed=failed is None)
        await asyncio.to_thread(audit_reload, self.runtime.store, "control plane", result, failed)

    def retry(self) -> None:
        """Forget the revision that failed, so the next check tries it again (on SIGHUP)."""
        if self.failed is not None:
            log.info("trying revision %d again", self.failed[0])
        self.failed = None

    def _cannot_run(self, revision: Revision, exc: BaseException) -> str:
        why = _why(exc)
        if isinstance(exc, EstateLoadError):
            root = revisions_dir(self.runtime.settings) / revision.hash
            errors = [f.render(root) for f in exc.findings if f.severity == "error"]
            why = "; ".join(errors[:3]) + (
                f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
            )
        self.failed = (revision.id, why)
        if self.runtime.behind_since is None:
            self.runtime.behind_since = time.monotonic()
        running = self.runtime.snapshot.revision
        log.error(
            "cannot run the control plane's revision %d; revision %s keeps running: %s",
            revision.id,
            running.id if running else "-",
            why,
        )
        return why

    def _lost(self, why: str) -> None:
        if self.runtime.control_plane_reachable is not False:  # once, not on every try
            running = self.runtime.snapshot.revision
            log.warning(
                "%s; serving revision %s until it is back", why, running.id if running else "-"
            )
        self.runtime.control_plane_reachable = False

    def _reached(self) -> None:
        if self.runtime.control_plane_reachable is False:
            log.info("the control plane at %s is reachable again", self.plane.url)
        self.runtime.control_plane_reachable = True

    def status(self) -> dict[str, Any]:
        """This node's report: what `GET /api/v1/nodes` shows on the control plane."""
        rev = self.runtime.snapshot.revision
        health = self.node.health()
        health["revision"] = (
            "ok"
            if self.failed is None
            else f"cannot run revision {self.failed[0]}: {self.failed[1]}"
        )
        return {
            "admin_address": self.node.admin_address,
            "gateway_address": self.node.gateway_address,
            "revision": None if rev is None else {"id": rev.id, "hash": rev.hash},
            "started_at": self.node.started_at.isoformat(),
            "health": {part: why[:500] for part, why in health.items()},
        }

    async def report(self) -> None:
        """Report this node's status every heartbeat until cancelled; a failure is the
        follower's to tell (it is the same control plane)."""
        while True:
            try:
                await self.plane.report(self.node.id, self.status())
            except ControlPlaneUnreachable:
                pass
            except InterlinkError as exc:
                log.debug("cannot report this node's status: %s", exc.message)
            await asyncio.sleep(HEARTBEAT)
