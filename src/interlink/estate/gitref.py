"""The estate as it was at a git ref, extracted into a temporary directory."""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from interlink.errors import EstateError


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(
            ["git", "-C", str(root), *args], capture_output=True, check=False, timeout=60
        )
    except FileNotFoundError as exc:
        raise EstateError("git is not installed; --against needs it") from exc


@contextmanager
def estate_at(ref: str, directory: Path) -> Iterator[Path]:
    """Yield the path of ``directory`` as it was at ``ref`` (empty if it did not exist then)."""
    directory = directory.resolve()
    top = _git(directory, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise EstateError(f"{directory} is not inside a git repository; --against needs one")
    toplevel = Path(top.stdout.decode().strip()).resolve()
    if _git(directory, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise EstateError(f"unknown git ref '{ref}'")
    prefix = directory.relative_to(toplevel).as_posix()
    archive = _git(toplevel, "archive", "--format=tar", ref, "--", prefix if prefix != "." else ".")
    with tempfile.TemporaryDirectory(prefix="interlink-against-") as tmp:
        target = Path(tmp)
        if archive.returncode == 0:
            with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
                tar.extractall(target, filter="data")
        old = target / prefix
        old.mkdir(parents=True, exist_ok=True)
        yield old


def repository_prefix(directory: Path) -> str:
    """Where ``directory`` is inside its git work tree ("" at the top, or outside any)."""
    directory = directory.resolve()
    try:
        top = _git(directory, "rev-parse", "--show-toplevel")
    except EstateError:
        return ""
    if top.returncode != 0:
        return ""
    prefix = directory.relative_to(Path(top.stdout.decode().strip()).resolve()).as_posix()
    return "" if prefix == "." else prefix
