"""The test harness's background ``interlink`` processes."""

from __future__ import annotations

from pathlib import Path

import pytest

from interlink.testing.processes import InterlinkProcess


def test_a_process_that_never_gets_ready_is_stopped_when_the_wait_gives_up(
    retail_dir: Path,
) -> None:
    proc = InterlinkProcess(["serve", str(retail_dir), "--admin-listen", "127.0.0.1:0"]).start()
    try:
        with pytest.raises(AssertionError, match="timed out waiting for"):
            proc.wait_for("a line serve never prints", timeout=1.0)
        assert proc.proc is not None
        assert proc.proc.poll() is not None  # not left running past the failed wait
    finally:
        proc.stop()
