"""What the audit log's chain costs: an append (head row locked, entry hashed and inserted,
head moved) against a token's creation (one INSERT in one transaction) on the same store, one
after the other and from two processes at once; and how fast `verify` walks the chain.

    .venv/bin/python bench/audit.py [--entries 500] [--postgres postgresql://...]

SQLite in a temporary file, and PostgreSQL in a schema of the run's own, dropped after.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
import uuid
from pathlib import Path

import psycopg
from psycopg import sql

from interlink.store import Actor, open_store
from interlink.testing.services import postgres_url

ACTOR = Actor("bench", "127.0.0.1", "abcd1234", "operator")


def _appends(url: str, count: int) -> None:
    with open_store(url) as store:
        for n in range(count):
            store.audit.append(ACTOR, "dlq.retry", f"dlq/s:{n}", {"retried": 1})


def _per_second(count: int, began: float) -> float:
    return count / (time.perf_counter() - began)


def measure(url: str, count: int) -> None:
    with open_store(url) as store:
        store.migrate()
        began = time.perf_counter()
        for n in range(count):
            store.tokens.create("viewer", f"t{n}")
        reference = _per_second(count, began)
        began = time.perf_counter()
        _appends(url, count)
        alone = _per_second(count, began)
        spawn = multiprocessing.get_context("spawn")
        workers = [spawn.Process(target=_appends, args=(url, count)) for _ in range(2)]
        began = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        together = _per_second(2 * count, began)  # process start-up included
        began = time.perf_counter()
        verdict = store.audit.verify()
        walked = _per_second(verdict.checked, began)
        assert verdict.ok, verdict.problem
    print(
        f"  token creations {reference:8.0f}/s   appends {alone:8.0f}/s "
        f"(ratio {alone / reference:.2f})   two processes {together:8.0f}/s   "
        f"verify {walked:9.0f} entries/s ({verdict.checked} entries)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=500, help="appends per measure")
    parser.add_argument("--postgres", default=postgres_url(), help="PostgreSQL server URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print("SQLite")
        measure(f"sqlite:///{Path(folder) / 'bench.db'}", args.entries)
    schema = f"il_bench_{uuid.uuid4().hex[:8]}"
    print("PostgreSQL")
    try:
        separator = "&" if "?" in args.postgres else "?"
        measure(f"{args.postgres}{separator}schema={schema}", args.entries)
    finally:
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


if __name__ == "__main__":
    main()
