"""A running `interlink serve` takes secret changes from the encrypted store without a restart:
a rotated System credential reaches the upstream within seconds, and a Route whose secret was
missing is served once it is set."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from interlink.testing.processes import InterlinkProcess, free_port, run_interlink
from interlink.testing.upstreams import UpstreamThread
from tests.unit.gateway.helpers import route, write_estate

FIRST = "first-" + os.urandom(6).hex()
SECOND = "second-" + os.urandom(6).hex()
BILLING = "billing-" + os.urandom(6).hex()


@pytest.fixture
def upstream() -> Iterator[UpstreamThread]:
    with UpstreamThread() as up:
        yield up


def _until(check: Callable[[], bool], proc: InterlinkProcess, what: str) -> None:
    deadline = time.monotonic() + 60  # a bound on being stuck, on a busy machine
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never happened:\n{proc.output}")
        time.sleep(0.1)


def test_a_rotated_secret_reaches_the_data_path_without_a_restart(
    tmp_path: Path, store_url: str, upstream: UpstreamThread
) -> None:
    rotate_while_serving(tmp_path, store_url, upstream, workers=1)


def test_gateway_workers_take_the_rotated_secret_too(
    tmp_path: Path, upstream: UpstreamThread
) -> None:
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    rotate_while_serving(tmp_path, store_url, upstream, workers=2)


def test_a_bad_poll_interval_stops_serve_with_one_line(tmp_path: Path) -> None:
    root = write_estate(tmp_path / "estate", {"crm": None}, [])
    done = run_interlink(
        ["serve", str(root), "--admin-listen", f"127.0.0.1:{free_port()}"],
        env={"INTERLINK_SECRETS_POLL": "soon", "INTERLINK_STORE_URL": ""},
    )
    assert done.returncode == 2
    assert "interlink: error: INTERLINK_SECRETS_POLL='soon': give the seconds" in done.stderr


def rotate_while_serving(
    tmp_path: Path, store_url: str, upstream: UpstreamThread, workers: int
) -> None:
    root = write_estate(
        tmp_path / "estate",
        {"crm": upstream.url, "billing": upstream.url},
        [route("crm", "/crm", "crm"), route("billing", "/billing", "billing")],
        credentials={
            "crm": {"scheme": "bearer", "token": "${secret:crm-token}"},
            "billing": {"scheme": "header", "name": "X-Api-Key", "value": "${secret:billing-key}"},
        },
    )
    env = {
        "INTERLINK_STORE_URL": store_url,
        "INTERLINK_MASTER_KEY": base64.b64encode(os.urandom(32)).decode(),
        "INTERLINK_SECRETS_POLL": "0.2",
    }
    done = run_interlink(["secrets", "set", "crm-token"], env=env, input=FIRST)
    assert done.returncode == 0, done.stderr
    serve = InterlinkProcess(
        [
            "serve",
            str(root),
            "--admin-listen",
            f"127.0.0.1:{free_port()}",
            "--workers",
            str(workers),
        ],
        env=env,
    ).start()
    try:
        gateway = serve.wait_for(r"interlink: gateway on (http://\S+)", timeout=60).group(1)

        def header(path: str, name: str) -> str | None:
            if httpx.get(gateway + path).status_code != 200:
                return None
            value: str | None = upstream.requests[-1]["headers"].get(name)
            return value

        assert header("/crm", "authorization") == f"Bearer {FIRST}"
        assert header("/billing", "x-api-key") is None  # its secret is nowhere yet: not served
        done = run_interlink(["secrets", "rotate", "crm-token"], env=env, input=SECOND)
        assert done.returncode == 0, done.stderr
        _until(lambda: header("/crm", "authorization") == f"Bearer {SECOND}", serve, "rotation")
        done = run_interlink(["secrets", "set", "billing-key"], env=env, input=BILLING)
        assert done.returncode == 0, done.stderr
        _until(lambda: header("/billing", "x-api-key") == BILLING, serve, "billing served")
    finally:
        serve.stop()
    for value in (FIRST, SECOND, BILLING):
        assert value not in serve.output
