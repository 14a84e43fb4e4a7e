"""The running platform: the store, the current snapshot, and atomic reloads."""

from __future__ import annotations

import asyncio
import getpass
import logging
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from interlink.errors import ConfigError
from interlink.estate.findings import EstateLoadError, Finding
from interlink.estate.references import resolve
from interlink.observe.metrics import Registry
from interlink.runtime.settings import ServeSettings
from interlink.runtime.snapshot import Snapshot, change_summary, compile_snapshot
from interlink.store import Revision, Store, default_store_url, open_store

if TYPE_CHECKING:
    from interlink.events.mesh import EventMesh

log = logging.getLogger("interlink.runtime")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    revision: Revision | None = None
    findings: list[Finding] = field(default_factory=list)
    changed: bool = False


def default_operator() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except (KeyError, OSError):
        return "unknown"


def estate_root(estate_dir: Path) -> Path:
    """The folder findings are shown relative to: the estate directory, or the folder of an
    estate given as one file (relative to the file itself, every finding would read `.:7:10`)."""
    path = estate_dir.resolve()
    return path if path.is_dir() else path.parent


def store_url_for(settings: ServeSettings, snapshot: Snapshot) -> str:
    """The flag (or INTERLINK_STORE_URL), else the Platform's store URL, else SQLite."""
    if settings.store_url:
        return settings.store_url
    declared = snapshot.estate.platform.spec.store.url
    if declared:
        try:
            return resolve(declared)
        except ConfigError as exc:
            raise ConfigError(f"Platform store URL: {exc.message}") from exc
    return default_store_url(snapshot.estate.root)


class Runtime:
    """Holds what every component reads; ``snapshot`` is swapped whole on reload."""

    def __init__(self, settings: ServeSettings, store: Store, snapshot: Snapshot) -> None:
        self.settings = settings
        self.store = store
        self._snapshot = snapshot
        self._lock = asyncio.Lock()
        # One metrics registry for every component of this process, rendered at /metrics.
        self.metrics = Registry()
        # Components serving in a reduced mode (name → why, in plain words); /readyz lists them
        # and the process stays ready.
        self.degraded: dict[str, str] = {}
        self.mesh: EventMesh | None = None  # set by the server once the event mesh is up
        self._reload_listeners: list[Callable[[Snapshot], Awaitable[None]]] = []

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
            revision = record_revision(store, snapshot, "start", settings.applied_by)
        except BaseException:
            store.close()
            raise
        return cls(settings, store, snapshot.with_revision(revision))

    async def reload(self, source: str, applied_by: str | None = None) -> ReloadResult:
        """Compile the estate again off the event loop; swap it in only when it is valid."""
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
            who = applied_by or self.settings.applied_by
            revision = await asyncio.to_thread(record_revision, self.store, fresh, source, who)
            self._snapshot = fresh.with_revision(revision)
            for listener in self._reload_listeners:
                try:
                    await listener(self._snapshot)
                except Exception:
                    log.exception("a component failed to take revision %d", revision.id)
            summary = revision.summary
            log.info(
                "revision %d applied (%s): %d added, %d changed, %d removed",
                revision.id,
                source,
                len(summary["added"]),
                len(summary["changed"]),
                len(summary["removed"]),
            )
            return ReloadResult(ok=True, revision=revision, changed=True)

    def _revision_id(self) -> str:
        rev = self._snapshot.revision
        return str(rev.id) if rev else "-"

    def close(self) -> None:
        self.store.close()


def record_revision(
    store: Store, snapshot: Snapshot, source: str, applied_by: str | None
) -> Revision:
    """Record the snapshot as a revision, unless it is the one recorded last."""
    latest = store.revisions.latest()
    if latest is not None and latest.hash == snapshot.content_hash:
        return _sharing_hashes(latest, snapshot)
    summary = change_summary(latest.object_hashes if latest else None, snapshot.object_hashes)
    recorded = store.revisions.record(
        snapshot.content_hash,
        applied_by or default_operator(),
        source,
        summary,
        snapshot.object_hashes,
    )
    return _sharing_hashes(recorded, snapshot)


def _sharing_hashes(revision: Revision, snapshot: Snapshot) -> Revision:
    """``revision`` holding the snapshot's map of object hashes instead of the equal copy read
    back from the store, which for a large estate is megabytes held twice."""
    if revision.object_hashes == snapshot.object_hashes:
        return replace(revision, object_hashes=snapshot.object_hashes)
    return revision
