"""A Singer tap for the tests, run as a subprocess: stream ``customers`` (key ``id``,
replication key ``updated``) from the JSON file ``config.data`` (a list of objects), after the
state's bookmark, with a STATE every ``config.stateEvery`` records and one at the end (none with
``config.noFinalState``); records of stream ``other`` interleaved, to be ignored.

``config.journal`` (a file) gets a JSON line per run: its argv, the state it was given, and the
mode of its config file. ``config.mode``: ``fail`` says the api key on stderr and exits 2,
``garbage`` writes a line that is not JSON when reading, ``hang`` sleeps.
``config.noKey`` declares no key properties.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import time
from typing import Any


def arg(name: str) -> str | None:
    return sys.argv[sys.argv.index(name) + 1] if name in sys.argv else None


def read(path: str | None) -> Any:
    if path is None:
        return None
    with open(path, encoding="utf-8") as file:
        return json.load(file)


def out(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def catalog(key: list[str]) -> dict[str, Any]:
    meta = {"table-key-properties": key, "replication-key": "updated"}
    return {
        "streams": [
            {
                "tap_stream_id": name,
                "stream": name,
                "schema": {"type": "object", "properties": {"id": {}, "updated": {}, "name": {}}},
                "metadata": [{"breadcrumb": [], "metadata": dict(meta)}],
            }
            for name in ("customers", "other")
        ]
    }


def main() -> int:
    if "--about" in sys.argv:
        settings = {"type": "object", "properties": {"api_key": {"type": "string"}}}
        print(json.dumps({"name": "tap-fake", "settings": settings}, indent=2))
        return 0
    config_path = arg("--config")
    config = read(config_path)
    assert config_path is not None
    key = [] if config.get("noKey") else ["id"]
    state = read(arg("--state"))
    with open(config["journal"], "a", encoding="utf-8") as journal:
        mode = stat.S_IMODE(os.stat(config_path).st_mode)
        entry = {
            "argv": sys.argv[1:],
            "state": state,
            "mode": oct(mode),
            "config": config_path,
            "pid": os.getpid(),
        }
        journal.write(json.dumps(entry) + "\n")
    sys.stderr.write(f"INFO connecting with key {config.get('api_key')}\n")
    sys.stderr.flush()
    if config.get("mode") == "fail":
        sys.stderr.write(f"ERROR the key {config.get('api_key')} was refused\n")
        return 2
    if config.get("mode") == "hang":
        time.sleep(30)
    if "--discover" in sys.argv:
        print(json.dumps(catalog(key), indent=2))
        return 0
    if config.get("mode") == "garbage":
        print("Starting sync…")
        return 0
    chosen = read(arg("--catalog") or arg("--properties"))
    selected = [
        s["tap_stream_id"] for s in chosen["streams"] if s["metadata"][0]["metadata"]["selected"]
    ]
    assert selected == ["customers"], selected
    after = ((state or {}).get("bookmarks", {}).get("customers", {})).get("updated", 0)
    out({"type": "SCHEMA", "stream": "customers", "schema": {}, "key_properties": key})
    every = int(config.get("stateEvery", 2))
    count = 0
    for row in read(config["data"]):
        if row["updated"] <= after:
            continue
        out({"type": "RECORD", "stream": "customers", "record": row})
        out({"type": "RECORD", "stream": "other", "record": {"id": -1}})
        after, count = row["updated"], count + 1
        if count % every == 0:
            out({"type": "STATE", "value": {"bookmarks": {"customers": {"updated": after}}}})
    if not config.get("noFinalState"):
        out({"type": "STATE", "value": {"bookmarks": {"customers": {"updated": after}}}})
    return 0


if __name__ == "__main__":
    sys.exit(main())
