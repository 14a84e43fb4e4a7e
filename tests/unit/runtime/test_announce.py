"""What `interlink serve` says about a revision at start and on reload."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from interlink.runtime.serve import announce
from interlink.runtime.snapshot import compile_snapshot
from tests.unit.estate.helpers import copy_retail, edit


def _logged(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records]


def test_passed_sunsets_are_warnings_and_what_is_not_run_is_one_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    retail = copy_retail(tmp_path / "retail")
    edit(retail / "apis.yaml", "sunset: 2027-06-30", "sunset: 2020-01-31")
    snapshot = compile_snapshot(retail)
    with caplog.at_level(logging.INFO, "interlink.serve"):
        announce(snapshot)
    logged = _logged(caplog)
    sunsets = [m for level, m in logged if level == "WARNING"]
    assert len(sunsets) == 3  # the Route and two Consumers bound to customers-v1
    assert all(m.startswith("passed sunset, served anyway: ") for m in sunsets)
    assert any(
        m.startswith("passed sunset, served anyway: gateway/routes.yaml:11:8: error: Route/")
        for m in sunsets
    )
    # Every kind runs, at least partly: no line counts objects not run.
    assert not any("declared and not run" in m for _, m in logged)
