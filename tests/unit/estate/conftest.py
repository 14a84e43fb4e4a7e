"""Fixtures of the estate tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.estate.helpers import copy_retail


@pytest.fixture
def retail(tmp_path: Path) -> Path:
    """A fresh copy of the retail example estate, free to edit."""
    return copy_retail(tmp_path / "retail")
