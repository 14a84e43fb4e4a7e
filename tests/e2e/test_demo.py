"""`interlink demo` with its companions: signed deliveries, a retry, a dead letter replayed."""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from pathlib import Path

import httpx
import pytest
import yaml

from interlink.testing.processes import (
    InterlinkProcess,
    free_port,
    interlink_command,
    run_interlink,
)

#: The ports `interlink demo` gives its mock systems unless told otherwise.
FIXED_PORTS = {9101, 9102, 9103, 9104}


def demo_args(directory: Path) -> list[str]:
    """A demo on ports of its own: never the fixed ones a demo running beside the tests holds."""
    return [
        "demo",
        "--dir",
        str(directory),
        "--admin-listen",
        f"127.0.0.1:{free_port()}",
        "--companions-port",
        "0",
    ]


@pytest.mark.slow
def test_the_demo_shows_retries_and_a_dead_letter_replayed(tmp_path: Path) -> None:
    demo = InterlinkProcess(demo_args(tmp_path / "demo"), cwd=tmp_path)
    with demo:
        first = demo.wait_for(r"crm +→ published customer.address-updated #1 for (C\d{6})")
        # Logistics turns the first delivery away with 503 + Retry-After, then takes it.
        demo.wait_for(r"logistics +← .*\(signature ok, .*\): answered 503")
        demo.wait_for(r"logistics +← .*\(signature ok, .*\): answered 204")
        # Analytics refuses the first event until its retries are spent: a dead letter, replayed.
        dead = demo.wait_for(r"dlq +✗ (analytics-address-updates:1) dead after", timeout=120)
        assert dead.group(1) == "analytics-address-updates:1"
        demo.wait_for(r"analytics is back, replaying", timeout=5)
        first_id = demo.wait_for(
            rf"analytics +← customer.address-updated {first.group(1)} \(signature ok, "
            r"webhook-id (\S+)\): answered 500"
        ).group(1)
        demo.wait_for(
            rf"analytics +← customer.address-updated {first.group(1)} \(signature ok, "
            rf"webhook-id {re.escape(first_id)}\): answered 204",
            timeout=30,
        )
        assert "BAD signature" not in demo.output
        demo.signal(signal.SIGINT)
        assert demo.proc is not None
        assert demo.proc.wait(15) == 0


def test_the_demo_puts_the_customers_api_behind_the_gateway(tmp_path: Path) -> None:
    demo = InterlinkProcess(demo_args(tmp_path / "demo"), cwd=tmp_path)
    with demo:
        gateway = demo.wait_for(r"gateway +(http://\S+)").group(1)
        partner = demo.wait_for(r"partner key +(ik_\S+)").group(1)
        jwt = demo.wait_for(r"Authorization: Bearer (ey[\w-]+\.[\w-]+\.[\w-]+)").group(1)
        demo.wait_for("Ctrl-C stops.")
        demo.wait_for(r"crm +→ published")  # the companions are up
        url = f"{gateway}/api/customers/C000001"
        by_key = httpx.get(url, headers={"x-api-key": partner})
        assert by_key.status_code == 200, by_key.text
        assert by_key.json()["servedBy"] in ("crm-legacy", "crm")
        assert by_key.headers["sunset"] == "Wed, 30 Jun 2027 00:00:00 GMT"
        assert 'rel="successor-version"' in by_key.headers["link"]
        assert "ratelimit" in by_key.headers
        by_jwt = httpx.get(url, headers={"authorization": f"Bearer {jwt}"})
        assert by_jwt.status_code == 200, by_jwt.text
        v2 = httpx.get(f"{gateway}/api/v2/customers/C000001", headers={"x-api-key": partner})
        assert v2.json()["givenName"] == "Ada"
        assert httpx.get(url).status_code == 401
        invalid = httpx.get(f"{gateway}/api/customers/nope", headers={"x-api-key": partner})
        assert invalid.status_code == 400
        assert invalid.json()["violations"][0]["pointer"] == "/path/id"
        # Every request was also copied to the new CRM, which spells tiers its own way.
        deadline = time.monotonic() + 40
        while True:
            compared = run_interlink(
                ["routes", "compare", "customers", "--estate", str(tmp_path / "demo")]
            )
            if "/tier" in compared.stdout or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert "/tier" in compared.stdout, compared.stdout + compared.stderr


def system_ports(directory: Path) -> set[int]:
    ports = set()
    for doc in yaml.safe_load_all((directory / "systems" / "sales.yaml").read_text()):
        ports.add(int(doc["spec"]["baseUrl"].rsplit(":", 1)[1]))
    for doc in yaml.safe_load_all((directory / "systems" / "operations.yaml").read_text()):
        if doc["metadata"]["name"] in ("logistics", "analytics"):
            ports.add(int(doc["spec"]["baseUrl"].rsplit(":", 1)[1]))
    return ports


def test_the_demo_banner_stays_readable_and_its_credentials_can_be_printed(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "demo"
    command = interlink_command()[0]
    # As after `make demo`: the venv's bin is not on PATH.
    path = os.pathsep.join(
        p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != Path(command).parent
    )
    demo = InterlinkProcess(demo_args(directory), cwd=tmp_path, env={"PATH": path})
    with demo:
        token = demo.wait_for(r"admin token +(il_\S+)").group(1)
        demo.wait_for("Ctrl-C stops.")
        demo.wait_for(r"logistics +← .*answered 204")  # events went through the gateway
        assert not system_ports(directory) & FIXED_PORTS
        assert f"  {command} dlq list --admin" in demo.output
        assert "\n  interlink " not in demo.output
        assert '"request_id"' not in demo.output  # no access log unless --access-log
        assert "HTTP Request:" not in demo.output  # nor the simulator's HTTP client
        credentials = directory / "credentials.txt"
        assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
        assert token in credentials.read_text()
        printed = run_interlink(["demo", "--dir", str(directory), "--print-credentials"])
        assert printed.returncode == 0, printed.stderr
        assert re.search(rf"^admin token +{token}$", printed.stdout, re.M)
        assert re.search(r"^partner key +ik_", printed.stdout, re.M)
    missing = run_interlink(["demo", "--dir", str(tmp_path / "none"), "--print-credentials"])
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"interlink: error: no demo credentials in {tmp_path / 'none'}: they are written when the "
        "demo starts"
    )
