"""How long the console takes to answer each page, on the demo estate and on a generated large
one (1,000 routes and 10,000 consumers, as bench/gateway_scale.py generates it): the target is
300 ms of server time per page.

    .venv/bin/python bench/console.py [--requests 20] [--routes 1000] [--consumers 10000]

Each estate is opened in-process (``Runtime.open`` on a SQLite store of its own, as `interlink
serve` opens it), with the admin app the console is part of; an admin signs in, a second
revision is recorded (up to 60 objects changed) so the revision pages have a diff to show, and every
page is requested ``--requests`` times through the ASGI app (after one request to warm it up).
For each page: its status, the median and 95th percentile of the wall time and of the process
CPU time per request (CPU time is what the machine's other load distorts least), and the
median's ratio to the target, and the process's peak resident memory after each estate.
Printed, never asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import html
import re
import resource
import statistics
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gateway_scale import generate
from interlink.admin.app import create_app
from interlink.cli.estate import write_example
from interlink.runtime.runtime import Runtime
from interlink.runtime.settings import ServeSettings

with warnings.catch_warnings():  # Starlette's test client warns about its HTTP package
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient
    from httpx import Response

TARGET_MS = 300.0
CSRF = re.compile(r'name="csrf" value="([^"]+)"')
PAGES = (
    "/console/catalog",
    "/console/catalog?q=team-3",
    "/console/catalog?systems_page=2&apis_page=2",
    "/console/inventory",
    "/console/inventory?q=route-09",
    "/console/routes",
    "/console/routes?q=route-09",
    "/console/routes/{route}",
    "/console/consumers",
    "/console/consumers?page=100",
    "/console/consumers?q=consumer-0999",
    "/console/subscriptions",
    "/console/runs",
    "/console/products",
    "/console/map",
    "/console/monitors",
    "/console/lineage",
    "/console/revisions",
    "/console/revisions/{latest}",
    "/console/revisions/{latest}?page=2",
    "/console/revisions/{first}",
    "/console/audit",
    "/console/edit",
    "/console/edit/System/{system}",
    "/console/flows/{flow}",
)
#: The editor's live check (htmx posts the form as typed): answered like a page.
PREVIEW = "/console/edit/preview"
INPUT = re.compile(r'<input[^>]*name="([^"]+)" value="([^"]*)"')
TEXTAREA = re.compile(r'<textarea[^>]*name="([^"]+)"[^>]*>([^<]*)</textarea>')
SELECTED = re.compile(
    r'<select[^>]*name="([^"]+)"[^>]*>(?:(?!</select>).)*?<option value="([^"]*)" selected', re.S
)


@contextmanager
def console(estate: Path, store: Path) -> Iterator[tuple[TestClient, dict[str, int | str]]]:
    """An admin signed in to the console over ``estate``; its first and latest revision, and
    the first Route, System and Flow by name (for their pages)."""
    runtime = Runtime.open(ServeSettings(estate, store_url=f"sqlite:///{store}"))
    try:
        first = runtime.snapshot.revision
        assert first is not None
        _second_revision(runtime, estate)
        latest = runtime.store.revisions.latest()
        assert latest is not None
        token, _ = runtime.store.tokens.create("admin", "bench")
        client = TestClient(create_app(runtime), follow_redirects=False)
        form = CSRF.search(client.get("/console/sign-in").text)
        assert form is not None
        signed = client.post("/console/sign-in", data={"csrf": form.group(1), "token": token})
        assert signed.status_code == 303, signed.text
        names = runtime.snapshot.estate.names
        yield (
            client,
            {
                "first": first.id,
                "latest": latest.id,
                **{k.lower(): min(names(k), default="") for k in ("Route", "System", "Flow")},
            },
        )
    finally:
        runtime.close()


def _second_revision(runtime: Runtime, estate: Path) -> None:
    """Record the estate again with up to 60 objects of one file changed (their description
    or contact): a revision with more than a page of diffs to show, reloaded as `--watch`
    reloads it, so the running snapshot is what the directory holds (as the editor finds it)."""
    for path in sorted(estate.rglob("*.yaml")):
        text = path.read_text()
        for field in ("description: ", "contact: "):
            if field in text:
                path.write_text(text.replace(field, field + "changed-", 60))
                break
        else:
            continue
        break
    reloaded = asyncio.run(runtime.reload("bench", "bench"))
    assert reloaded.ok, reloaded
    assert reloaded.changed, reloaded


def measure(
    client: TestClient, path: str, n: int, form: dict[str, str] | None = None
) -> tuple[int, list[float], list[float]]:
    """``n`` requests of ``path``: GET, or POST of ``form``."""

    def ask() -> Response:
        answer: Response = client.get(path) if form is None else client.post(path, data=form)
        return answer

    status = ask().status_code  # warm: caches, templates
    wall, cpu = [], []
    for _ in range(n):
        w, c = time.perf_counter(), time.process_time()
        answer = ask()
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)
        status = answer.status_code
    return status, wall, cpu


def edit_form(page: str) -> dict[str, str]:
    """The edit form's fields as a browser posts them, unchanged."""
    found = [*INPUT.findall(page), *SELECTED.findall(page), *TEXTAREA.findall(page)]
    return {name: html.unescape(value) for name, value in found}


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def report(title: str, estate: Path, store: Path, n: int) -> None:
    began = time.perf_counter()
    with console(estate, store) as (client, revisions):
        print(f"\n{title} (opened in {time.perf_counter() - began:.1f} s), {n} requests a page")
        print(
            f"{'page':48} {'status':>6} {'wall med':>9} {'wall p95':>9} {'cpu med':>8} "
            f"{'cpu p95':>8} {'/300ms':>7}"
        )
        edit = "/console/edit/System/{system}".format(**revisions)
        form = edit_form(client.get(edit).text)
        asked = [(page.format(**revisions), None) for page in PAGES] + [(PREVIEW, form)]
        for path, posted in asked:
            if "//" in path or path.endswith("/"):
                continue  # the estate has no object of that kind
            status, wall, cpu = measure(client, path, n, posted)
            median = statistics.median(wall)
            print(
                f"{path:48} {status:>6} {median:>7.1f}ms {p95(wall):>7.1f}ms "
                f"{statistics.median(cpu):>6.1f}ms {p95(cpu):>6.1f}ms {median / TARGET_MS:>7.2f}"
            )
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        print(f"peak resident memory of the process so far: {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20, help="requests per page")
    parser.add_argument("--routes", type=int, default=1000, help="routes of the large estate")
    parser.add_argument("--consumers", type=int, default=10000, help="its consumers")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="interlink-bench-console-") as tmp:
        root = Path(tmp)
        demo = root / "demo"
        write_example("retail", demo)
        report("demo estate (retail)", demo, root / "demo.db", args.requests)
        # No request reaches the upstream: its port only has to be well-formed.
        large = generate(root, 9, args.routes, args.consumers).root
        report(
            f"large estate ({args.routes} routes, {args.consumers} consumers)",
            large,
            root / "large.db",
            args.requests,
        )


if __name__ == "__main__":
    main()
