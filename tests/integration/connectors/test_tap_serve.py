"""`interlink serve` runs a Flow whose trigger.poll reads a Singer tap's stream: each record
becomes a run that writes it to a SQLite table, once, records added later are found from the
stored STATE, and the tap's stderr is logged with its secret scrubbed. (A restart going on from
the stored STATE is in test_taps.py, through the poller: a second node start costs seconds.)"""

from __future__ import annotations

import json
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from interlink.testing.processes import InterlinkProcess, free_port
from tests.integration.flows.test_engine import write_estate

TAP = Path(__file__).resolve().parent / "taps" / "fake_singer_tap.py"
SECRET = "s3cr3t-Serve-77a"

FLOW = """---
apiVersion: interlink/v1
kind: System
metadata: {{name: gh, owner: ops}}
spec:
  domain: sales
  connector: singer
  connection:
    command: [{python}, {tap}]
    config:
      api_key: ${{secret:gh-key}}
      data: {data}
      journal: {journal}
      stateEvery: 2
---
apiVersion: interlink/v1
kind: System
metadata: {{name: sink, owner: ops}}
spec:
  domain: sales
  connector: sqlite
  connection: {{path: {db}}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: copy-customers, owner: ops}}
spec:
  trigger:
    poll: {{system: gh, stream: customers, interval: 100ms, batch: 2}}
  steps:
    - name: save
      type: write
      system: sink
      table: copied
      rows: "{{'id': id, 'name': name}}"
"""


def customers(path: Path, count: int) -> None:
    rows = [{"id": i, "updated": i, "name": f"c{i}"} for i in range(1, count + 1)]
    path.write_text(json.dumps(rows), encoding="utf-8")


def copied(db: Path) -> list[int]:
    with sqlite3.connect(db) as conn:
        return [r[0] for r in conn.execute("SELECT id FROM copied ORDER BY id")]


def serve(root: Path) -> InterlinkProcess:
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"]
    ).start()
    proc.wait_for("Flow/copy-customers trigger gh.customers started")
    return proc


def test_serve_polls_a_tap_stream_into_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTERLINK_SECRET_GH_KEY", SECRET)
    monkeypatch.setenv("FLOWS_TEST_STORE", f"sqlite:///{tmp_path / 'store' / 'interlink.db'}")
    monkeypatch.setenv("FLOWS_TEST_KEY", "k-123")
    data, journal, db = tmp_path / "data.json", tmp_path / "journal.jsonl", tmp_path / "sink.db"
    customers(data, 5)
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE copied (id INTEGER PRIMARY KEY, name TEXT)")
    text = FLOW.format(
        python=json.dumps(sys.executable),
        tap=json.dumps(str(TAP)),
        data=json.dumps(str(data)),
        journal=json.dumps(str(journal)),
        db=json.dumps(str(db)),
    )
    root = write_estate(tmp_path / "estate", "http://127.0.0.1:9", text)
    proc = serve(root)
    try:
        proc.wait_for("connecting with key \\*\\*\\*")
        wait_for(db, 5, proc)
        customers(data, 7)  # found from the stored STATE: the tap reads after record 5
        wait_for(db, 7, proc)
    finally:
        assert proc.stop() == 0
    # Each record once: id is copied's primary key, so a second run would have failed.
    assert copied(db) == [1, 2, 3, 4, 5, 6, 7]
    reads = [json.loads(line) for line in journal.read_text().splitlines()]
    states = [r["state"] for r in reads if "--discover" not in r["argv"]]
    assert states[0] is None
    assert {"bookmarks": {"customers": {"updated": 5}}} in states
    assert SECRET not in proc.output
    assert "Traceback" not in proc.output


def wait_for(db: Path, count: int, proc: InterlinkProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(copied(db)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(copied(db))} records copied, not {count}:\n{proc.output}")
        time.sleep(0.05)
