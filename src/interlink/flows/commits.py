"""Group commit of flow checkpoints: the store calls of concurrent runs share one transaction.

Every run's checkpoint is its own small transaction; with many runs in flight, each paying a
thread hop and a commit (an fsync on PostgreSQL) is what limits runs a second. The calls that
arrive while a batch is being written wait for the next one, which runs them in a single
worker-thread call and a single transaction (the calls made in one turn of the event loop
start in one batch, in order). The writer thread takes the next batch itself as soon as the
last one committed, and hands each batch's outcomes to the loop in one callback: a loop busy
with the runs the last batch woke would otherwise keep the writer idle.
When one of the calls fails (a lost lease, a store error), the whole batch is rolled back and
each call runs again alone, in a transaction of its own, so a failure stays its own call's
(the calls only touch the store: running one again after a rollback is safe). A caller hears
back only after the batch committed, so a checkpoint is exactly as durable as when it had a
transaction of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from interlink.store.database import Database, Session

T = TypeVar("T")
_POSTGRES_WRITERS = 3
#: (the function, its arguments or the one item of a batched call, the caller's future,
#: whether the function takes the batch's items as one list).
_Call = tuple[Callable[..., Any], Any, "asyncio.Future[Any]", bool]
Item = TypeVar("Item")


class GroupCommit:
    """Batches store calls made from one event loop; :meth:`transaction` is what they use."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._local = threading.local()  # the batch's session, in the thread running it
        self._queue: list[_Call] = []
        self._lock = threading.Lock()  # the queue and the count, shared with the writers
        self._writing = 0  # writer threads taking batches off the queue
        # SQLite has one connection and one writer; PostgreSQL commits batches side by side,
        # leaving one of the pool's connections to the store's other users.
        self._parallel = 1 if db.dialect == "sqlite" else _POSTGRES_WRITERS
        self._threads: ThreadPoolExecutor | None = None

    async def call(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in the next batch; its result or its exception once that committed."""
        result: T = await self._enqueue(fn, args, False)
        return result

    async def each(self, fn: Callable[[list[Item]], Sequence[T | Exception]], item: Item) -> T:
        """``item`` given to ``fn`` in the next batch with the items of the other ``each``
        calls of the same ``fn``, so it writes them all with a statement per table; its
        outcome for this item (raised when an exception) once the batch committed. ``fn``
        returns one outcome per item, in order: an item's exception fails that item only."""
        result: T = await self._enqueue(fn, item, True)
        return result

    async def _enqueue(self, fn: Callable[..., Any], args: Any, many: bool) -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            self._queue.append((fn, args, future, many))
            start = self._writing < self._parallel
            if start:
                self._writing += 1
        if start:  # once this turn of the loop is over: the calls made in it make one batch
            loop.call_soon(self._start)
        return await future

    def _start(self) -> None:
        if self._threads is None:  # the same few threads stay warm
            self._threads = ThreadPoolExecutor(self._parallel, thread_name_prefix="group-commit")
        try:
            self._threads.submit(self._write)
        except RuntimeError as exc:  # the interpreter is shutting down: no thread will come
            self._leave(exc)

    def _leave(self, exc: BaseException, batch: list[_Call] | None = None) -> None:
        """A writer that will not write (or no longer): counted out, and ``batch`` (else what
        waits in the queue) failed with ``exc``."""
        with self._lock:
            self._writing -= 1
            if batch is None:
                batch, self._queue = self._queue, []
        _answer(batch, [(False, exc)] * len(batch))

    def _write(self) -> None:
        """In a writer thread: batches until the queue is empty. The next batch is taken here
        as soon as one committed, not when the event loop has heard of it: the loop, busy with
        the runs the last batch woke, would otherwise keep the writer idle."""
        batch: list[_Call] = []
        try:
            while True:
                with self._lock:
                    batch, self._queue = self._queue, []
                    if not batch:
                        self._writing -= 1
                        return
                try:
                    outcomes = self._apply(batch)
                except Exception as exc:  # the store failed on its own: every call did
                    outcomes = [(False, exc)] * len(batch)
                _answer(batch, outcomes)
        except BaseException as exc:  # the thread is going: its calls fail, the others go on
            self._leave(exc, batch)
            raise

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

    def _apply(self, batch: list[_Call]) -> list[tuple[bool, Any]]:
        if len(batch) > 1:
            with contextlib.suppress(_CallFailed):  # rolled back: every call runs again, alone
                return self._together(batch)
        return [self._alone(call) for call in batch]

    def _together(self, batch: list[_Call]) -> list[tuple[bool, Any]]:
        """All the calls in one transaction; ``_CallFailed`` (all rolled back) if one fails,
        as a lost lease or a store error must not take the others' writes with it. The
        items of batched calls go to their function together, after the other calls."""
        outcomes: list[tuple[bool, Any] | None] = [None] * len(batch)
        grouped: dict[Callable[..., Any], list[int]] = {}
        with self._db.transaction() as session:
            self._local.session = session
            try:
                for position, (fn, args, _, many) in enumerate(batch):
                    if many:
                        grouped.setdefault(fn, []).append(position)
                        continue
                    try:
                        outcomes[position] = (True, fn(*args))
                    except Exception as exc:
                        raise _CallFailed from exc
                for fn, positions in grouped.items():
                    try:
                        results = fn([batch[position][1] for position in positions])
                    except Exception as exc:
                        raise _CallFailed from exc
                    for position, result in zip(positions, results, strict=True):
                        outcomes[position] = _outcome(result)
            finally:
                self._local.session = None
        return [outcome for outcome in outcomes if outcome is not None]

    def _alone(self, call: _Call) -> tuple[bool, Any]:
        fn, args, _, many = call
        try:
            return _outcome(fn([args])[0]) if many else (True, fn(*args))
        except Exception as exc:
            return False, exc


def _answer(batch: list[_Call], outcomes: list[tuple[bool, Any]]) -> None:
    """From a writer thread: each call's outcome to its caller, on the caller's loop."""
    loops: dict[asyncio.AbstractEventLoop, list[int]] = {}
    for position, call in enumerate(batch):
        loops.setdefault(call[2].get_loop(), []).append(position)
    for loop, positions in loops.items():
        settled = [(batch[p][2], outcomes[p]) for p in positions]
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits
            loop.call_soon_threadsafe(_settle, settled)


def _settle(settled: list[tuple[asyncio.Future[Any], tuple[bool, Any]]]) -> None:
    """On the callers' loop: each call's outcome to its future."""
    for future, (ok, value) in settled:
        if future.done():  # its caller was cancelled
            continue
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)


def _outcome(result: Any) -> tuple[bool, Any]:
    return (False, result) if isinstance(result, Exception) else (True, result)


class _CallFailed(Exception):
    """A call of a batch failed: the batch's transaction is rolled back."""
