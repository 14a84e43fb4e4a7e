"""Private socket directories: 0700, and those of a process that is gone are swept."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from interlink.gateway.workers.private_dir import make_private_dir, remove_private_dir, sweep_stale


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture
def tmp_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    return tmp_path


def test_made_private_and_named_after_this_process(tmp_root: Path) -> None:
    directory = Path(make_private_dir("ingress"))
    assert directory.parent == tmp_root
    assert directory.name.startswith(f"interlink-ingress-{os.getpid()}-")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    remove_private_dir(str(directory))
    assert not directory.exists()
    remove_private_dir(str(directory))  # twice is harmless


def test_directories_of_a_killed_process_are_swept_at_the_next_start(tmp_root: Path) -> None:
    gone = dead_pid()
    stale = tmp_root / f"interlink-ingress-{gone}-abc123"
    stale.mkdir(mode=0o700)
    (stale / "ingress.sock").write_text("")
    live = tmp_root / f"interlink-ingress-{os.getpid()}-def456"  # a running serve's
    live.mkdir()
    other_kind = tmp_root / f"interlink-metrics-{gone}-ghi789"
    other_kind.mkdir()
    unrelated = tmp_root / f"interlink-ingress-{gone}"  # not a name this module makes
    unrelated.mkdir()

    made = Path(make_private_dir("ingress"))

    assert not stale.exists()
    assert live.exists()
    assert made.exists()
    assert other_kind.exists()  # swept by its own kind's start only
    assert unrelated.exists()
    assert sweep_stale("metrics") == [str(other_kind)]
    assert not other_kind.exists()


def test_a_missing_temporary_directory_sweeps_nothing(tmp_path: Path) -> None:
    assert sweep_stale("ingress", str(tmp_path / "absent")) == []
