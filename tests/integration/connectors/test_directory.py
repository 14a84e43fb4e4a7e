"""The directory connector against real directories."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from interlink.connectors.base import ConnectionFailed, ConnectorError, StatementError
from interlink.connectors.directory import DirectoryConnector
from interlink.testing.connectors import run_conformance

CHECKS = ["spec", "write-read", "list", "move", "delete", "errors"]


def test_conformance(tmp_path: Path) -> None:
    assert asyncio.run(run_conformance(DirectoryConnector(), {"root": str(tmp_path)})) == CHECKS
    left = [name for _, _, names in os.walk(tmp_path) for name in names]
    assert left == []  # the kit cleaned up after itself


def test_a_missing_root_is_refused_unless_created(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    with pytest.raises(ConnectionFailed) as caught:
        asyncio.run(DirectoryConnector().open({"root": str(missing)}, "drop"))
    assert caught.value.message.startswith(f"System/drop ({missing}): the root is not a directory")

    async def created() -> None:
        conn = await DirectoryConnector().open({"root": str(missing), "create": True}, "drop")
        await conn.write_file("a.txt", b"x")

    asyncio.run(created())
    assert (missing / "a.txt").read_bytes() == b"x"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads and writes any file")
def test_a_refused_permission_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "locked").mkdir()
    (tmp_path / "locked" / "a.txt").write_text("x")
    (tmp_path / "locked").chmod(0o000)

    async def go() -> None:
        conn = await DirectoryConnector().open({"root": str(tmp_path)}, "drop")
        await conn.read_file("locked/a.txt")

    try:
        with pytest.raises(ConnectorError) as caught:
            asyncio.run(go())
    finally:
        (tmp_path / "locked").chmod(0o755)
    assert caught.value.message.startswith("System/drop (locked/a.txt): refused")
    assert not caught.value.retryable


def test_a_read_only_directory_refuses_the_write(tmp_path: Path) -> None:
    async def go() -> None:
        conn = await DirectoryConnector().open({"root": "/proc/self"}, "proc")
        await conn.write_file("interlink-test.txt", b"x")

    with pytest.raises(ConnectorError) as caught:
        asyncio.run(go())
    assert caught.value.message.startswith("System/proc (interlink-test.txt): refused")


def test_a_link_out_of_the_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "secret.txt").write_text("s")
    (root / "out").symlink_to(tmp_path)

    async def go() -> None:
        conn = await DirectoryConnector().open({"root": str(root)}, "drop")
        await conn.read_file("out/secret.txt")

    with pytest.raises(StatementError) as caught:
        asyncio.run(go())
    assert "leads out of the System's root" in caught.value.message


def test_a_write_leaves_no_temporary_file(tmp_path: Path) -> None:
    async def go() -> list[str]:
        conn = await DirectoryConnector().open({"root": str(tmp_path)}, "drop")
        await conn.write_file("out/a.csv", b"1")
        await conn.write_file("out/a.csv", b"22")
        return [f.path for f in await conn.list_files()]

    assert asyncio.run(go()) == ["out/a.csv"]
    assert os.listdir(tmp_path / "out") == ["a.csv"]
    assert (tmp_path / "out" / "a.csv").read_bytes() == b"22"
