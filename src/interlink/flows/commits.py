"""Group commit of flow checkpoints: the store calls of concurrent runs share one transaction.

Every run's checkpoint is its own small transaction; with many runs in flight, each paying a
thread hop and a commit (an fsync on PostgreSQL) is what limits runs a second. The calls that
arrive while a batch is being written wait for the next one, which runs them in a single
worker-thread call and a single transaction. When one of them fails (a lost lease, a store
error), the whole batch is rolled back and each call runs again alone, in a transaction of its
own, so a failure stays its own call's (the calls only touch the store: running one again after
a rollback is safe). A caller hears back only after the batch committed, so a
checkpoint is exactly as durable as when it had a transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from interlink.store.database import Database, Session

T = TypeVar("T")
_POSTGRES_WRITERS = 3
_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class GroupCommit:
    """Batches store calls made from one event loop; :meth:`transaction` is what they use."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()  # the batch's session, in the thread writing it
        self._queue: list[_Call] = []
        self._writers: set[asyncio.Task[None]] = set()
        # SQLite has one connection and one writer; PostgreSQL commits batches side by side,
        # leaving one of the pool's connections to the store's other users.
        self._parallel = 1 if db.dialect == "sqlite" else _POSTGRES_WRITERS

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the next batch; its result or its exception once that committed."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queue.append((fn, args, future))
        # A writer that found the queue empty has ended, even before its done callbacks ran.
        self._writers = {writer for writer in self._writers if not writer.done()}
        if len(self._writers) < self._parallel:
            self._writers.add(asyncio.create_task(self._write()))
        return await future

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """The batch's transaction inside a batch; a transaction of its own outside one."""
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            with self._db.transaction() as own:
                yield own
            return
        yield session

    @contextmanager
    def session(self) -> Iterator[Session]:
        """For reads: the batch's session inside a batch (they see its writes); outside, a
        session of its own."""
        session: Session | None = getattr(self._local, "session", None)
        if session is None:
            with self._db.session() as own:
                yield own
            return
        yield session

    async def _write(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                outcomes = await asyncio.to_thread(self._apply, batch)
            except Exception as exc:  # the store failed on its own: every call did
                outcomes = [(False, exc)] * len(batch)
            for (_, _, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _apply(self, batch: list[_Call]) -> list[tuple[bool, Any]]:
        if len(batch) > 1:
            with contextlib.suppress(_CallFailed):  # rolled back: every call runs again, alone
                return self._together(batch)
        return [self._alone(fn, args) for fn, args, _ in batch]

    def _together(self, batch: list[_Call]) -> list[tuple[bool, Any]]:
        """All the calls in one transaction; ``_CallFailed`` (all rolled back) if one fails,
        as a lost lease or a store error must not take the others' writes with it."""
        outcomes: list[tuple[bool, Any]] = []
        with self._db.transaction() as session:
            self._local.session = session
            try:
                for fn, args, _ in batch:
                    try:
                        outcomes.append((True, fn(*args)))
                    except Exception as exc:
                        raise _CallFailed from exc
            finally:
                self._local.session = None
        return outcomes

    def _alone(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[bool, Any]:
        try:
            return True, fn(*args)
        except Exception as exc:
            return False, exc


class _CallFailed(Exception):
    """A call of a batch failed: the batch's transaction is rolled back."""
