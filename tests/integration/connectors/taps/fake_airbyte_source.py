"""An Airbyte source for the tests, run as a subprocess: stream ``customers`` (primary key
``id``, cursor ``updated``) from the JSON file ``config.data``, after the per-stream state's
cursor, with a STREAM state every ``config.stateEvery`` records and at the end, and LOG
messages that say the api key. ``check`` fails in the region ``nowhere``; ``config.mode: fail``
sends an ERROR trace and exits 1. ``config.journal`` gets a JSON line per read: the state
given.
"""

from __future__ import annotations

import json
import sys
from typing import Any

STREAM = {
    "name": "customers",
    "json_schema": {"type": "object", "properties": {"id": {}, "updated": {}, "name": {}}},
    "supported_sync_modes": ["full_refresh", "incremental"],
    "source_defined_cursor": True,
    "default_cursor_field": ["updated"],
    "source_defined_primary_key": [["id"]],
}


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


def log(text: str) -> None:
    out({"type": "LOG", "log": {"level": "INFO", "message": text}})


def state(after: int) -> dict[str, Any]:
    return {
        "type": "STATE",
        "state": {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": "customers"},
                "stream_state": {"updated": after},
            },
        },
    }


def main() -> int:
    command = sys.argv[1]
    if command == "spec":
        secret = {"type": "string", "airbyte_secret": True, "description": "the API key"}
        spec = {"type": "object", "required": ["api_key"], "properties": {"api_key": secret}}
        out({"type": "SPEC", "spec": {"connectionSpecification": spec}})
        return 0
    config = read(arg("--config"))
    log(f"using key {config.get('api_key')}")
    if config.get("mode") == "fail":
        error = {"message": f"the key {config.get('api_key')} was refused"}
        out({"type": "TRACE", "trace": {"type": "ERROR", "error": error}})
        return 1
    if command == "check":
        ok = config.get("region") != "nowhere"
        status = {"status": "SUCCEEDED" if ok else "FAILED", "message": "" if ok else "no region"}
        out({"type": "CONNECTION_STATUS", "connectionStatus": status})
        return 0
    if command == "discover":
        out({"type": "CATALOG", "catalog": {"streams": [STREAM]}})
        return 0
    given = read(arg("--state"))
    with open(config["journal"], "a", encoding="utf-8") as journal:
        journal.write(json.dumps({"state": given, "catalog": read(arg("--catalog"))}) + "\n")
    after = 0
    for entry in given or []:
        after = entry["stream"]["stream_state"]["updated"]
    every = int(config.get("stateEvery", 2))
    count = 0
    for row in read(config["data"]):
        if row["updated"] <= after:
            continue
        out({"type": "RECORD", "record": {"stream": "customers", "data": row, "emitted_at": 1}})
        after, count = row["updated"], count + 1
        if count % every == 0:
            out(state(after))
    out(state(after))
    return 0


if __name__ == "__main__":
    sys.exit(main())
