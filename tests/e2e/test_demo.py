"""`interlink demo` with its companions: signed deliveries, a retry, a dead letter replayed."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest

from interlink.testing.processes import InterlinkProcess, free_port


@pytest.mark.slow
def test_the_demo_shows_retries_and_a_dead_letter_replayed(tmp_path: Path) -> None:
    demo = InterlinkProcess(
        ["demo", "--dir", str(tmp_path / "demo"), "--admin-listen", f"127.0.0.1:{free_port()}"],
        cwd=tmp_path,
    )
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
