"""`interlink serve` runs a Flow's trigger.watch: CSV files dropped in a directory become runs
whose file step writes them out as JSON Lines, each file once, moved to done/ after its run is
recorded (a restart, and a pass stopped before the move, are in test_watch_triggers.py)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from interlink.testing.processes import InterlinkProcess, free_port
from tests.integration.flows.test_engine import write_estate

FLOW = """---
apiVersion: interlink/v1
kind: System
metadata: {{name: drop, owner: ops}}
spec:
  domain: sales
  connector: directory
  connection: {{root: "{root}"}}
---
apiVersion: interlink/v1
kind: Flow
metadata: {{name: convert, owner: ops}}
spec:
  trigger:
    watch:
      name: inbox
      system: drop
      prefix: inbox/
      pattern: "*.csv"
      format: csv
      then: move
      interval: 100ms
  steps:
    - name: out
      type: file
      system: drop
      path: "'out/' & $substringBefore(name, '.csv') & '.jsonl'"
      format: jsonl
      rows: "rows.{{'id': $number(id), 'file': $$.path}}"
"""


def out(root: Path) -> dict[str, list[dict[str, object]]]:
    folder = root / "out"
    if not folder.is_dir():
        return {}
    return {
        p.name: [json.loads(line) for line in p.read_text().splitlines()]
        for p in sorted(folder.iterdir())
    }


def wait_for(root: Path, count: int, proc: InterlinkProcess, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(out(root)) < count or len(list((root / "done").glob("*"))) < count:
        if time.monotonic() > deadline:
            raise AssertionError(f"{sorted(out(root))} written, not {count}:\n{proc.output}")
        time.sleep(0.05)


def serve(estate: Path) -> InterlinkProcess:
    proc = InterlinkProcess(
        ["serve", str(estate), "--admin-listen", f"127.0.0.1:{free_port()}"]
    ).start()
    proc.wait_for("Flow/convert trigger inbox started")
    return proc


def test_serve_watches_a_directory(tmp_path: Path) -> None:
    root = tmp_path / "files"
    (root / "inbox").mkdir(parents=True)
    (root / "inbox" / "a.csv").write_text("id\n1\n2\n")
    (root / "inbox" / "skip.txt").write_text("not watched")
    estate = write_estate(tmp_path / "estate", "http://127.0.0.1:9", FLOW.format(root=root))
    proc = serve(estate)
    try:
        wait_for(root, 1, proc)
        (root / "inbox" / "b.csv").write_text("id\n3\n")
        wait_for(root, 2, proc)
    finally:
        assert proc.stop() == 0
    assert out(root) == {
        "a.jsonl": [{"id": 1, "file": "inbox/a.csv"}, {"id": 2, "file": "inbox/a.csv"}],
        "b.jsonl": [{"id": 3, "file": "inbox/b.csv"}],
    }
    assert sorted(p.name for p in (root / "done").iterdir()) == ["a.csv", "b.csv"]
    assert sorted(p.name for p in (root / "inbox").iterdir()) == ["skip.txt"]
    assert "Traceback" not in proc.output
