"""`interlink serve` runs a Flow's trigger.poll: rows of a SQLite table become runs that write
them elsewhere, each once, across batches of equal cursor values, a restart, and a reload that
removes the trigger."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

from interlink.testing.processes import InterlinkProcess, free_port
from tests.integration.flows.test_engine import write_estate

FLOW = """---
apiVersion: interlink/v1
kind: System
metadata: {{name: shop, owner: ops}}
spec:
  domain: sales
  connector: sqlite
  connection: {{path: "{db}"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: copy-orders, owner: ops}}
spec:
  trigger:
    poll:
      system: shop
      table: orders
      cursor: version
      key: [id]
      interval: 100ms
      batch: 2
  steps:
    - name: save
      type: write
      system: shop
      table: copied
      rows: "{{'id': id, 'version': version, 'note': note}}"
"""


def insert(db: Path, rows: list[tuple[int, int]]) -> None:
    with sqlite3.connect(db) as conn:
        conn.executemany(
            "INSERT INTO orders (id, version, note) VALUES (?, ?, ?)",
            [(i, v, f"n{i}") for i, v in rows],
        )


def copied(db: Path) -> list[tuple[int, int]]:
    with sqlite3.connect(db) as conn:
        return [tuple(r) for r in conn.execute("SELECT id, version FROM copied ORDER BY id")]


def wait_for(db: Path, count: int, proc: InterlinkProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(copied(db)) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{len(copied(db))} rows copied, not {count}:\n{proc.output}")
        time.sleep(0.05)


def serve(root: Path) -> InterlinkProcess:
    proc = InterlinkProcess(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"]
    ).start()
    proc.wait_for("Flow/copy-orders trigger shop.orders started")
    return proc


def test_serve_polls_a_table_into_runs(tmp_path: Path) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, version INTEGER, note TEXT)")
        conn.execute("CREATE TABLE copied (id INTEGER PRIMARY KEY, version INTEGER, note TEXT)")
    # Five rows of one version: batches of two cut through them.
    insert(db, [(i, 7) for i in range(1, 6)])
    root = write_estate(tmp_path / "estate", "http://127.0.0.1:9", FLOW.format(db=db))
    proc = serve(root)
    try:
        wait_for(db, 5, proc)
        insert(db, [(6, 7), (7, 8)])  # while polling, one at the last version
        wait_for(db, 7, proc)
    finally:
        assert proc.stop() == 0
    insert(db, [(8, 9)])
    again = serve(root)
    try:
        wait_for(db, 8, again)
        # A reload without the trigger stops it.
        estate = root / "estate.yaml"
        text = estate.read_text().replace(
            "  trigger:\n    poll:", "  trigger: {manual: true}\n  x-poll:"
        )
        cut = text.index("  x-poll:")
        end = text.index("  steps:")
        estate.write_text(text[:cut] + text[end:])
        again.signal(signal.SIGHUP)
        again.wait_for("Flow/copy-orders trigger shop.orders stopped")
    finally:
        assert again.stop() == 0
    # Each row once (copied has id as its primary key: a second run would have failed).
    assert copied(db) == [(i, 7) for i in range(1, 7)] + [(7, 8), (8, 9)]
    assert "Traceback" not in proc.output + again.output
