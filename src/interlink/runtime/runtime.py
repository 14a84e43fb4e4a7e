"""The running platform: the store, the current snapshot, and atomic reloads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final

from interlink.errors import ConfigError, EstateError, InterlinkError
from interlink.estate.findings import EstateLoadError, Finding
from interlink.estate.references import resolve
from interlink.observe.inventory_metrics import InventoryGauges
from interlink.observe.links import LinkCounts
from interlink.observe.metrics import Registry
from interlink.runtime.bundle import BundleError, materialise, pack, pack_estate, unpack
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot, change_summary, compile_snapshot
from interlink.store import Actor, Revision, Store, default_store_url, open_store
from interlink.store.audit import local_address
from interlink.store.database import Database, Listener
from interlink.store.revisions import CHANNEL

if TYPE_CHECKING:
    from interlink.alerts import Alerts
    from interlink.events.mesh import EventMesh
    from interlink.products.schedule import RefreshSchedule
    from interlink.products.service import Products
    from interlink.runtime.flows import FlowRunner
    from interlink.runtime.lineage import NodeLineage
    from interlink.runtime.monitors import MonitorService

log = logging.getLogger("interlink.runtime")

# How often a node checks the store for a newer revision: every second on SQLite, which has no
# notifications; on PostgreSQL a NOTIFY wakes it at once and this is only the fallback.
POLL_INTERVAL: Final = {"sqlite": 1.0, "postgres": 5.0}
_HASH: Final = re.compile(r"[0-9a-f]{64}")
KEEP_WRITTEN_FOR: Final = 600.0  # seconds a written-out revision stays, running or not


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    revision: Revision | None = None
    findings: list[Finding] = field(default_factory=list)
    changed: bool = False
    refused: str | None = None  # why a valid estate was not applied (older than the current)
    root: Path | None = None  # what the findings' files are relative to, when not the estate dir


def default_operator() -> str:
    return local_address()


def estate_root(estate_dir: Path) -> Path:
    """The folder findings are shown relative to: the estate directory, or the folder of an
    estate given as one file (relative to the file itself, every finding would read `.:7:10`)."""
    path = estate_dir.resolve()
    return path if path.is_dir() else path.parent


def store_url_for(settings: ServeSettings, snapshot: Snapshot) -> str:
    """The flag (or INTERLINK_STORE_URL), else the Platform's store URL, else SQLite beside the
    estate directory (the node's own, also when it runs a revision taken from the store)."""
    if settings.store_url:
        return settings.store_url
    if settings.state_dir is not None:  # a data-plane node: the Platform's store is not its own
        return f"sqlite:///{(settings.state_dir / 'interlink.db').as_posix()}"
    declared = snapshot.estate.platform.spec.store.url
    if declared:
        try:
            return resolve(declared)
        except ConfigError as exc:
            raise ConfigError(f"Platform store URL: {exc.message}") from exc
    return default_store_url(estate_root(settings.estate_dir))


def revisions_dir(settings: ServeSettings) -> Path:
    """Where a node writes out the revisions it takes from the store: beside the embedded
    store's default file, under the estate directory's ``.interlink`` (a data-plane node's, under
    its state directory)."""
    if settings.state_dir is not None:
        return settings.state_dir / "revisions"
    return estate_root(settings.estate_dir) / ".interlink" / "revisions"


class Runtime:
    """Holds what every component reads; ``snapshot`` is swapped whole on reload."""

    def __init__(self, settings: ServeSettings, store: Store, snapshot: Snapshot) -> None:
        self.settings = settings
        self.store = store
        self._snapshot = snapshot
        self._lock = asyncio.Lock()
        # One metrics registry for every component of this process, rendered at /metrics.
        self.metrics = Registry()
        # What the mesh and the flows connected, counted per hour: the mesh writes it out.
        self.links = LinkCounts()
        # Components serving in a reduced mode (name → why, in plain words); /readyz lists them
        # and the process stays ready.
        self.degraded: dict[str, str] = {}
        self.mesh: EventMesh | None = None  # set by the server once the event mesh is up
        self.flows: FlowRunner | None = None  # set by the server with the mesh
        self.inventory: InventoryGauges | None = None  # the inventory's gauges, with the mesh
        # The sink of the monitors' verdicts: set by the server with the mesh.
        self.alerts: Alerts | None = None
        self.lineage: NodeLineage | None = None  # set by the server with the mesh
        self.monitors: MonitorService | None = None  # set by the server with the mesh
        #: The data products (queries, refreshes) and their refresh schedule, with the mesh.
        self.products: Products | None = None
        self.product_refreshes: RefreshSchedule | None = None
        self._reload_listeners: list[Callable[[Snapshot], Awaitable[None]]] = []
        self.poll_interval = POLL_INTERVAL[store.db.dialect]
        # Since when (monotonic) the store has held a newer revision than this node runs.
        self.behind_since: float | None = None
        self._failed_revision: int | None = None  # the newer revision that would not compile
        self._head_failing = False  # the store's current revision could not be read last time
        self.node_id: str | None = None  # this node's row in the store's nodes table, once serving
        # A data-plane node: whether it reached its control plane last time it tried.
        self.control_plane_reachable: bool | None = None
        self._taken = asyncio.Condition()  # notified as each revision is swapped in
        self._stopping = False  # held requests for a newer revision end, so a stop is quick

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def on_reload(self, listener: Callable[[Snapshot], Awaitable[None]]) -> None:
        """Await ``listener(snapshot)`` after each new snapshot is swapped in, in order. A
        component compiles its own view there (off the event loop) and swaps it in turn."""
        self._reload_listeners.append(listener)

    @classmethod
    def open(cls, settings: ServeSettings) -> Runtime:
        """Load and check the estate, open and migrate the store, record the revision."""
        snapshot = compile_snapshot(settings.estate_dir)
        store = open_store(store_url_for(settings, snapshot))
        try:
            store.migrate()
            snapshot = starting_snapshot(store, snapshot, settings)
        except BaseException:
            store.close()
            raise
        return cls(settings, store, snapshot)

    async def reload(self, source: str, applied_by: str | None = None) -> ReloadResult:
        """Compile the estate again off the event loop; swap it in only when it is valid. A
        reload of the node's own (SIGHUP, a file change) that changes the revision or is
        rejected goes to the audit log; the admin API records the ones asked of it."""
        result = await self._reload(source, applied_by)
        if source != "api" and (result.changed or not result.ok):
            await asyncio.to_thread(audit_reload, self.store, source, result)
        return result

    async def _reload(self, source: str, applied_by: str | None) -> ReloadResult:
        async with self._lock:
            try:
                fresh = await asyncio.to_thread(compile_snapshot, self.settings.estate_dir)
            except EstateLoadError as exc:
                errors = [f for f in exc.findings if f.severity == "error"]
                log.error(
                    "reload (%s) rejected: %d error(s); revision %s keeps running",
                    source,
                    len(errors),
                    self._revision_id(),
                )
                for finding in errors:
                    log.error("  %s", finding.render(estate_root(self.settings.estate_dir)))
                return ReloadResult(ok=False, findings=exc.findings)
            if fresh.content_hash == self._snapshot.content_hash:
                return ReloadResult(ok=True, revision=self._snapshot.revision, changed=False)
            store = self.store.revisions
            head, seen = await asyncio.to_thread(
                lambda: (store.head(), store.find_hash(fresh.content_hash))
            )
            if seen is not None and head is not None and head[1] != fresh.content_hash:
                refused = (
                    f"the estate directory holds the content of revision {seen.id}, older than "
                    f"the current revision {head[0]}; not applied (to roll back, use "
                    "`interlink apply`)"
                )
                log.error("reload (%s) refused: %s", source, refused)
                return ReloadResult(ok=False, refused=refused)
            if seen is not None:  # the current revision, which this node had not taken yet
                revision = seen
            else:
                who = applied_by or self.settings.applied_by
                revision = await asyncio.to_thread(record_revision, self.store, fresh, source, who)
            await self._swap(fresh.with_revision(revision), source)
            return ReloadResult(ok=True, revision=revision, changed=True)

    async def apply(self, bundle: bytes, applied_by: str) -> ReloadResult:
        """Check and run the estate in ``bundle`` and record it as a new current revision,
        even when its content was recorded before: this is how a revision is rolled back.
        Raises ``BundleError`` for a bundle that cannot be read."""
        files = unpack(bundle)
        async with self._lock:
            scratch = await asyncio.to_thread(self._scratch)
            try:
                fresh = await asyncio.to_thread(self._compile_files, files, scratch)
            except EstateLoadError as exc:
                log.error("apply rejected: the estate has errors")
                return ReloadResult(ok=False, findings=exc.findings, root=scratch / "estate")
            finally:
                await asyncio.to_thread(shutil.rmtree, scratch, True)
            revision = await asyncio.to_thread(
                record_revision, self.store, fresh, "apply", applied_by, pack(files), True
            )
            await self._swap(fresh.with_revision(revision), "apply")
            return ReloadResult(ok=True, revision=revision, changed=True)

    async def run_snapshot(self, fresh: Snapshot, source: str) -> bool:
        """Swap in ``fresh`` (compiled from a revision) unless this node runs that revision or a
        newer one already; whether it did."""
        async with self._lock:
            running, revision = self._snapshot.revision, fresh.revision
            assert revision is not None
            if running is not None and revision.id <= running.id:
                return False
            await self._swap(fresh, source)
            return True

    async def wait_for_revision(self, after: int, timeout: float) -> tuple[int, str] | None:
        """The store's current revision (id, hash) once it is newer than ``after``, waiting up
        to ``timeout`` seconds: woken as this node takes a revision, and reading the store at
        least every ``poll_interval`` for those no node here has taken yet."""
        deadline = time.monotonic() + timeout
        while True:
            head = await asyncio.to_thread(self.store.revisions.head)
            if head is not None and head[0] > after:
                return head
            left = deadline - time.monotonic()
            if left <= 0 or self._stopping:
                return None
            async with self._taken:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._taken.wait(), min(left, self.poll_interval))

    async def stop_waiting(self) -> None:
        """End every wait for a newer revision now and from now on: the process is stopping."""
        self._stopping = True
        async with self._taken:
            self._taken.notify_all()

    def _scratch(self) -> Path:
        target = revisions_dir(self.settings)
        target.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".apply-", dir=target))

    def _compile_files(self, files: dict[str, bytes], scratch: Path) -> Snapshot:
        """Compile ``files`` where their revision will live: checked first in ``scratch``,
        since the name of a revision's folder is its content hash, known only once compiled."""
        checked = compile_snapshot(materialise(files, scratch / "estate"))
        directory = revisions_dir(self.settings) / checked.content_hash
        return compile_snapshot(materialise(files, directory))

    async def follow(self) -> None:
        """Run the store's current revision, whoever recorded it, until cancelled: woken by the
        store's notifications where it has them, else every ``poll_interval`` seconds."""
        notices = None
        if self.store.db.dialect == "postgres":
            notices = _Notifications(self.store.db, self.poll_interval)
        last_check = 0.0
        try:
            while True:
                if notices is not None:
                    woken = await notices.wait()
                    if not woken and time.monotonic() - last_check < self.poll_interval:
                        continue
                else:
                    await asyncio.sleep(self.poll_interval)
                last_check = time.monotonic()
                try:
                    await self.catch_up()
                except Exception:  # a bug must not end following for the process's lifetime
                    log.exception("following the current revision failed; trying again")
        finally:
            if notices is not None:
                notices.close()

    async def catch_up(self) -> bool:
        """Take the store's current revision if this node runs an older one; whether it did."""
        try:
            head = await asyncio.to_thread(self.store.revisions.head)
        except InterlinkError as exc:
            if not self._head_failing:  # once a streak, not every poll
                log.warning(
                    "cannot read the current revision: %s; revision %s keeps running",
                    exc.message,
                    self._revision_id(),
                )
            self._head_failing = True
            return False
        if self._head_failing:
            log.info("the current revision is read again")
        self._head_failing = False
        running = self._snapshot.revision
        if head is None or (running is not None and head[0] <= running.id):
            self.behind_since = None
            return False
        if self.behind_since is None:
            self.behind_since = time.monotonic()
        async with self._lock:
            try:
                return await self._take(head[0])
            except (InterlinkError, OSError) as exc:
                if self._failed_revision != head[0]:  # once per revision, not every poll
                    self._failed_revision = head[0]
                    why = exc.message if isinstance(exc, InterlinkError) else str(exc)
                    log.error(
                        "cannot run the current revision %d; revision %s keeps running: %s",
                        head[0],
                        self._revision_id(),
                        why,
                    )
                return False

    async def _take(self, revision_id: int) -> bool:
        running = self._snapshot.revision
        if running is not None and revision_id <= running.id:  # taken while waiting for the lock
            return False
        revision = await asyncio.to_thread(self.store.revisions.get, revision_id)
        if revision.hash == self._snapshot.content_hash:
            self._snapshot = self._snapshot.with_revision(revision)
            log.info("revision %d is the content this node runs", revision.id)
        else:
            directory = revisions_dir(self.settings)
            fresh = await asyncio.to_thread(load_revision, self.store, revision, directory)
            await self._swap(fresh, "store")
        self.behind_since = None
        return True

    async def _swap(self, fresh: Snapshot, source: str) -> None:
        before = self._snapshot
        self._snapshot = fresh
        revision = fresh.revision
        assert revision is not None
        for listener in self._reload_listeners:
            try:
                await listener(self._snapshot)
            except Exception:
                log.exception("a component failed to take revision %d", revision.id)
        async with self._taken:
            self._taken.notify_all()
        keep = {fresh.estate.root, before.estate.root}
        await asyncio.to_thread(prune_revision_dirs, revisions_dir(self.settings), keep)
        summary = revision.summary
        log.info(
            "revision %d applied (%s): %d added, %d changed, %d removed",
            revision.id,
            source,
            len(summary["added"]),
            len(summary["changed"]),
            len(summary["removed"]),
        )

    def running_dir(self) -> Path:
        """Where the running revision's files are: the estate directory, or the folder a
        revision taken from the store was written out to."""
        root = self._snapshot.estate.root
        if root.parent == revisions_dir(self.settings).resolve():
            return root
        return self.settings.estate_dir.resolve()

    @property
    def follow_grace(self) -> float:
        """How long a node may run an older revision than the store's before it is not ready:
        a few polls, and time to compile."""
        return self.poll_interval * 3 + 5

    def behind_for(self) -> float | None:
        """Seconds this node has run an older revision than the store's current, if it does."""
        since = self.behind_since
        return None if since is None else time.monotonic() - since

    def _revision_id(self) -> str:
        rev = self._snapshot.revision
        return str(rev.id) if rev else "-"

    def close(self) -> None:
        self.store.close()


class _Notifications:
    """Notifications of new revisions, on a listening connection of their own that is made
    again when lost; losing it and having it back are each said once."""

    def __init__(self, db: Database, fallback: float) -> None:
        self._db = db
        self._fallback = fallback  # seconds between tries while no listener can be had
        self._listener: Listener | None = None
        self._polling = False

    async def wait(self) -> bool:
        """True when a revision was recorded within about a second; False otherwise, after
        ``fallback`` seconds when no listener can be had (the caller polls meanwhile)."""
        if self._listener is None:
            try:
                self._listener = await asyncio.to_thread(self._db.listener, CHANNEL)
            except InterlinkError as exc:
                self._lost(exc)
                await asyncio.sleep(self._fallback)
                return False
            if self._polling:
                log.info("following revisions by notification again")
            self._polling = False
        if self._listener is None:  # a dialect without notifications
            await asyncio.sleep(self._fallback)
            return False
        try:
            # Short waits, so a stop never waits long for this thread.
            return await asyncio.to_thread(self._listener.wait, 1.0)
        except InterlinkError as exc:
            self._lost(exc)
            self.close()
            return False

    def _lost(self, exc: InterlinkError) -> None:
        if not self._polling:
            log.warning("following revisions by polling: %s", exc.message)
        self._polling = True

    def close(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.close()


def audit_reload(store: Store, source: str, result: ReloadResult, why: str | None = None) -> None:
    """Record a reload the node made on its own as the platform's (``system``) action (``why``
    it failed, when the findings do not say); a store that fails here is logged, not raised:
    the revision is running already."""
    errors = sum(1 for f in result.findings if f.severity == "error")
    reason = result.refused or (None if result.ok else why or f"the estate has {errors} error(s)")
    details: dict[str, object] = {"source": source}
    if result.revision is not None:
        details.update(revision=result.revision.id, hash=result.revision.hash)
    try:
        store.audit.append(
            Actor.system(),
            "estate.reload",
            "estate",
            details,
            "ok" if result.ok else "refused" if result.refused else "failed",
            reason,
        )
    except InterlinkError as exc:
        log.error("the audit log could not record the %s reload: %s", source, exc.message)


def starting_snapshot(store: Store, local: Snapshot, settings: ServeSettings) -> Snapshot:
    """What a starting node runs: the store's current revision when the estate directory holds
    an older recorded one (a node restarted from an old copy in a rolling deploy must not take
    the platform back), else the directory's content, recorded when it is new."""
    latest = store.revisions.latest()
    if latest is not None and latest.hash != local.content_hash:
        seen = store.revisions.find_hash(local.content_hash)
        if seen is not None:
            log.info(
                "the estate directory holds revision %d, older than the current revision %d: "
                "running revision %d from the store",
                seen.id,
                latest.id,
                latest.id,
            )
            return load_revision(store, latest, revisions_dir(settings))
    recorded = record_revision(store, local, "start", settings.applied_by)
    if latest is None or recorded.id != latest.id:  # a new revision, from the directory
        audit_reload(store, "start", ReloadResult(ok=True, revision=recorded, changed=True))
    return local.with_revision(recorded)


def prune_revision_dirs(directory: Path, keep: set[Path], now: float | None = None) -> None:
    """Delete the revisions written out under ``directory`` but those in ``keep`` (the running
    one, and the one before it, which a request begun before the swap may still read) and those
    written in the last ``KEEP_WRITTEN_FOR`` seconds (another node started from the same
    directory may run one)."""
    if not directory.is_dir():
        return
    cutoff = (time.time() if now is None else now) - KEEP_WRITTEN_FOR
    for entry in directory.iterdir():
        if not _HASH.fullmatch(entry.name) or entry.resolve() in keep:
            continue
        with contextlib.suppress(FileNotFoundError):
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)


def load_revision(store: Store, revision: Revision, directory: Path) -> Snapshot:
    """Write out ``revision``'s stored estate under ``directory`` and compile it (blocking)."""
    bundle = store.revisions.bundle(revision.hash)
    if bundle is None:
        raise EstateError(
            f"revision {revision.id} was recorded without its estate content; run it from its "
            "directory, or record it again with `interlink apply`"
        )
    return run_bundle(bundle, revision, directory)


def run_bundle(bundle: bytes, revision: Revision, directory: Path) -> Snapshot:
    """Write out ``bundle``, the estate content of ``revision``, under ``directory`` and compile
    it (blocking). Raises ``EstateLoadError`` or ``BundleError``."""
    if not _HASH.fullmatch(revision.hash):
        raise EstateError(f"revision {revision.id} has no content hash to run it by")
    path = materialise(unpack(bundle), directory / revision.hash)
    return _sharing_hashes_snapshot(compile_snapshot(path), revision)


def record_revision(
    store: Store,
    snapshot: Snapshot,
    source: str,
    applied_by: str | None,
    bundle: bytes | None = None,
    always: bool = False,
) -> Revision:
    """Record the snapshot as a revision with its estate content, unless it is the one recorded
    last (``always`` records it anyway: an explicit apply is a revision of its own)."""
    latest = store.revisions.latest()
    if not always and latest is not None and latest.hash == snapshot.content_hash:
        if not store.revisions.has_bundle(latest.hash):  # recorded by a version without them
            with contextlib.suppress(BundleError):
                store.revisions.keep_bundle(latest.hash, pack_estate(snapshot.estate))
        return _sharing_hashes(latest, snapshot)
    if bundle is None:
        try:
            bundle = pack_estate(snapshot.estate)
        except BundleError as exc:
            log.warning(
                "revision recorded without its content, so other nodes cannot run it: %s",
                exc.message,
            )
    summary = change_summary(latest.object_hashes if latest else None, snapshot.object_hashes)
    recorded = store.revisions.record(
        snapshot.content_hash,
        applied_by or default_operator(),
        source,
        summary,
        snapshot.object_hashes,
        bundle,
    )
    return _sharing_hashes(recorded, snapshot)


def _sharing_hashes_snapshot(snapshot: Snapshot, revision: Revision) -> Snapshot:
    return snapshot.with_revision(_sharing_hashes(revision, snapshot))


def _sharing_hashes(revision: Revision, snapshot: Snapshot) -> Revision:
    """``revision`` holding the snapshot's map of object hashes instead of the equal copy read
    back from the store, which for a large estate is megabytes held twice."""
    if revision.object_hashes == snapshot.object_hashes:
        return replace(revision, object_hashes=snapshot.object_hashes)
    return revision
