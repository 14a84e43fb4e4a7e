"""Group commit of flow store calls, on both stores: one batch, results kept apart."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest

from interlink.errors import LeaseLost
from interlink.flows.runs import Advance, Advanced, FlowRuns, NewRun, Start, StepMark
from interlink.store import Store, open_store


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with open_store(store_url) as opened:
        opened.migrate()
        yield opened


def test_a_lost_lease_in_a_batch_leaves_the_other_calls_written(store: Store) -> None:
    runs = FlowRuns(store.db)

    async def scenario() -> tuple[object, ...]:
        created = await asyncio.gather(
            *(runs.commits.call(runs.create, "f", "r", {}, "manual", n, "me", 30.0) for n in (1, 2))
        )
        first, second = created
        assert first.id != second.id
        # Started together, these three land in one batch; the middle one is not ours.
        return tuple(
            await asyncio.gather(
                runs.commits.call(runs.step_completed, first, "forward", 0, 1, {"m": 1}, 1, "me"),
                runs.commits.call(
                    runs.step_completed, second, "forward", 0, 2, {"m": 2}, 1, "other"
                ),
                runs.commits.call(runs.set_status, first, "completed", "me"),
                return_exceptions=True,
            )
        )

    completed, lost, ended = asyncio.run(scenario())
    assert completed is None
    assert isinstance(lost, LeaseLost)
    assert not isinstance(ended, BaseException)
    (done,) = [run for run in runs.latest() if run.input == 1]
    assert (done.status, done.step, done.context) == ("completed", 1, {"m": 1})
    (held,) = [run for run in runs.latest() if run.input == 2]
    assert (held.status, held.step) == ("running", 0)


def test_checkpoints_written_together_keep_a_lost_lease_to_its_own_run(store: Store) -> None:
    runs = FlowRuns(store.db)

    async def scenario() -> tuple[object, ...]:
        made = await asyncio.gather(
            *(
                runs.commits.each(runs.write_all, NewRun("f", "r", {}, "manual", n, "me", 30.0))
                for n in (1, 2)
            )
        )
        first, second = (done.run for done in made)
        # Started together, both land in one batch; the second run is not ours.
        return tuple(
            await asyncio.gather(
                runs.commits.each(
                    runs.write_all,
                    Advance(
                        first,
                        "forward",
                        0,
                        {"out": 1},
                        {"m": 1},
                        1,
                        "me",
                        StepMark("a", "map", 1),
                        Start(1, "b", "call"),
                    ),
                ),
                runs.commits.each(
                    runs.write_all,
                    Advance(
                        second,
                        "forward",
                        0,
                        {"out": 2},
                        {"m": 2},
                        1,
                        "other",
                        StepMark("a", "map", 1),
                        Start(1, "b", "call"),
                    ),
                ),
                return_exceptions=True,
            )
        )

    moved, lost = asyncio.run(scenario())
    assert isinstance(lost, LeaseLost)
    assert isinstance(moved, Advanced)
    assert moved.attempt == 1  # the next step's first attempt, counted with the checkpoint
    assert (moved.run.step, moved.run.context) == (1, {"m": 1})
    (done,) = [run for run in runs.latest() if run.input == 1]
    assert (done.status, done.step, done.context) == ("running", 1, {"m": 1})
    rows = [(s.name, s.status, s.attempts, s.output) for s in runs.steps(done.id)]
    assert rows == [("a", "completed", 1, {"out": 1}), ("b", "running", 1, None)]
    (held,) = [run for run in runs.latest() if run.input == 2]
    assert (held.step, held.context) == (0, {"message": 2, "steps": {}})
    assert runs.steps(held.id) == []  # nothing of the lost run's checkpoint was written


def test_the_writer_takes_the_next_batch_while_the_loop_is_busy(store: Store) -> None:
    """A call arriving while a batch is written is written as soon as a writer is free (the
    same one on SQLite, once the batch committed; another on PostgreSQL), not once the event
    loop, blocked here on purpose, has heard of the first batch."""
    commits = FlowRuns(store.db).commits
    first_started = threading.Event()
    ran_at: dict[str, float] = {}

    def first() -> None:
        first_started.set()
        time.sleep(0.2)
        ran_at["first"] = time.monotonic()

    def second() -> None:
        ran_at["second"] = time.monotonic()

    async def scenario() -> float:
        writing = asyncio.ensure_future(commits.call(first))
        await asyncio.to_thread(first_started.wait, 5.0)
        queued = asyncio.ensure_future(commits.call(second))
        await asyncio.sleep(0)  # the second call is queued behind the batch being written
        time.sleep(1.5)  # the loop busy: it hears of neither batch meanwhile
        unblocked = time.monotonic()
        await asyncio.gather(writing, queued)
        return unblocked

    unblocked = asyncio.run(scenario())
    assert ran_at["first"] < unblocked
    assert ran_at["second"] < unblocked
