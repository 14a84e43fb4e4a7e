"""Watch triggers over a real directory: a run per new file, the file moved, deleted or kept
only once its run is recorded; a pass stopped between the two records no second run; a file
that is not what its format says is set aside with the reason beside it."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path
from typing import Any

import pytest

from interlink.connectors.connections import Connections
from interlink.flows.triggers import Poller, TriggerCheckpoints, item_run_id
from interlink.flows.triggers.files import WatchSource
from interlink.store import Store
from tests.integration.flows.test_poll_triggers import Recorder

pytestmark = pytest.mark.anyio


@pytest.fixture
def root(tmp_path: Path) -> Path:
    files = tmp_path / "files"
    files.mkdir()
    return files


def source(root: Path, **kwargs: Any) -> WatchSource:
    kwargs.setdefault("prefix", "inbox/")
    kwargs.setdefault("pattern", "*.csv")
    kwargs.setdefault("format", "csv")
    return WatchSource(
        "Flow/ingest trigger drop",
        "drop",
        "directory",
        {"root": str(root)},
        connections=Connections(),
        **kwargs,
    )


def put(root: Path, path: str, text: str) -> None:
    (root / path).parent.mkdir(parents=True, exist_ok=True)
    (root / path).write_text(text)


def listed(root: Path) -> list[str]:
    return sorted(
        str(Path(folder, name).relative_to(root))
        for folder, _, names in os.walk(root)
        for name in names
    )


def poller(root: Path, store: Store, recorded: Recorder, **kwargs: Any) -> Poller:
    return Poller(
        "ingest",
        "drop",
        source(root, **kwargs),
        recorded,
        TriggerCheckpoints(store.db),
        interval=0.01,
        limit=10,
    )


async def until(check: Any) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not reached in 10 s")


async def test_new_files_run_then_move_and_bad_ones_are_set_aside(
    root: Path, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "interlink.flows.triggers")
    put(root, "inbox/a.csv", "id,name\n1,Ada\n2,Grace\n")
    put(root, "inbox/sub/b.csv", "id\n3\n")
    put(root, "inbox/notes.txt", "not watched")
    put(root, "inbox/broken.csv", 'id,name\n1,"Ada\n')
    put(root, "inbox/big.csv", "id\n" + "1\n" * 100)
    recorded = Recorder()
    watching = poller(root, store, recorded, max_bytes=100)
    await watching.start()
    await until(lambda: "done/sub/b.csv" in listed(root))
    await watching.close()
    inputs = {run["path"]: run for run in recorded.unique}
    assert sorted(inputs) == ["inbox/a.csv", "inbox/sub/b.csv"]
    a = inputs["inbox/a.csv"]
    assert a["rows"] == [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Grace"}]
    assert (a["name"], a["size"]) == ("a.csv", 22)
    assert a["modified"].endswith("Z")
    assert listed(root) == [
        "done/a.csv",
        "done/sub/b.csv",
        "error/big.csv",
        "error/big.csv.error.txt",
        "error/broken.csv",
        "error/broken.csv.error.txt",
        "inbox/notes.txt",
    ]
    why = (root / "error/broken.csv.error.txt").read_text()
    assert why == "System/drop (inbox/broken.csv): not CSV: line 2: unexpected end of data\n"
    big = (root / "error/big.csv.error.txt").read_text()
    assert big == "System/drop (inbox/big.csv): 203 bytes, more than maxBytes (100)\n"
    assert (
        "Flow/ingest trigger drop: a file is not run: System/drop (inbox/broken.csv): not CSV"
        in caplog.text
    )


async def test_a_pass_stopped_before_the_move_records_no_second_run(
    root: Path, store: Store
) -> None:
    put(root, "inbox/a.csv", "id\n1\n")
    put(root, "inbox/b.csv", "id\n2\n")
    # The first node records the runs and stops before moving the files.
    first = source(root)
    batch = await first.poll(None, 10)
    recorded = Recorder()
    for item in batch.items:
        await recorded("ingest", item.input, "watch", item_run_id("ingest:drop", item.key))
    assert listed(root) == ["inbox/a.csv", "inbox/b.csv"]
    # The node that takes over lists them again: the same keys, the same runs, then the move.
    again = poller(root, store, recorded)
    await again.start()
    await until(lambda: listed(root) == ["done/a.csv", "done/b.csv"])
    await again.close()
    assert len(recorded.runs) == 4
    assert len(recorded.unique) == 2  # two run ids in all: each file runs once


async def test_keep_runs_a_file_once_and_again_when_it_changes(root: Path, store: Store) -> None:
    put(root, "inbox/a.json", '[{"id": 1}]')
    put(root, "inbox/b.json", '{"id": 2}')
    put(root, "inbox/c.json", "{nope")
    recorded = Recorder()
    kwargs: dict[str, Any] = {"then": "keep", "format": "json", "pattern": "*.json"}
    watching = poller(root, store, recorded, **kwargs)
    await watching.start()
    await until(lambda: len(recorded.unique) == 2)
    checkpoints = TriggerCheckpoints(store.db)
    await until(
        lambda: (saved := checkpoints.get("ingest:drop")) and len(saved.cursor["seen"]) == 3
    )
    await watching.close()
    put(root, "inbox/b.json", '{"id": 2, "changed": true}')
    again = poller(root, store, recorded, **kwargs)  # a restart: from the checkpoint
    await again.start()
    await until(lambda: len(recorded.unique) == 3)
    await again.close()
    assert [run["rows"] for run in recorded.unique] == [
        [{"id": 1}],
        [{"id": 2}],
        [{"id": 2, "changed": True}],
    ]
    assert listed(root) == ["inbox/a.json", "inbox/b.json", "inbox/c.json"]
    assert len(recorded.runs) == 3  # nothing listed again was recorded again


async def test_delete_and_text_content(root: Path, store: Store) -> None:
    put(root, "a.txt", "héllo")
    recorded = Recorder()
    watching = poller(root, store, recorded, prefix="", pattern=None, format="text", then="delete")
    await watching.start()
    await until(lambda: listed(root) == [])
    await watching.close()
    (run,) = recorded.unique
    assert (run["path"], run["content"], run["size"]) == ("a.txt", "héllo", 6)


async def test_a_poll_holds_at_most_max_bytes_of_files(root: Path) -> None:
    for name in ("a", "b", "c"):
        put(root, f"inbox/{name}.csv", "id\n" + "1\n" * 20)  # 43 bytes each
    watching = source(root, max_bytes=100)
    first = await watching.poll(None, 10)
    assert [item.input["name"] for item in first.items] == ["a.csv", "b.csv"]
    assert first.more
    await watching.settle(first.items)
    second = await watching.poll(None, 10)
    assert [item.input["name"] for item in second.items] == ["c.csv"]
    assert not second.more
