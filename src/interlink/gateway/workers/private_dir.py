"""Private directories for the supervisor's Unix sockets, and the sweep of those left behind.

A directory is named ``interlink-<kind>-<pid>-<random>`` in the temporary directory and made
0700, so only the platform's user may reach the sockets in it. ``interlink serve`` removes its
directories when it stops; one killed with SIGKILL cannot, so the next start removes the
directories of its kind whose process no longer exists (and only those this user owns).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile

_NAME = re.compile(r"interlink-(?P<kind>[a-z]+)-(?P<pid>\d+)-[A-Za-z0-9_]+")


def make_private_dir(kind: str) -> str:
    """A fresh 0700 directory for ``kind``'s sockets; stale ones of ``kind`` are removed first."""
    sweep_stale(kind)
    return tempfile.mkdtemp(prefix=f"interlink-{kind}-{os.getpid()}-")


def remove_private_dir(directory: str | None) -> None:
    if directory is not None:
        with contextlib.suppress(OSError):
            shutil.rmtree(directory)


def sweep_stale(kind: str, root: str | None = None) -> list[str]:
    """Remove ``kind``'s directories whose process is gone; the paths removed."""
    root = root or tempfile.gettempdir()
    removed: list[str] = []
    try:
        entries = list(os.scandir(root))
    except OSError:
        return removed
    uid = os.getuid()
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        if match is None or match["kind"] != kind:
            continue
        try:
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != uid:
                continue
        except OSError:
            continue
        if _alive(int(match["pid"])):
            continue
        remove_private_dir(entry.path)
        removed.append(entry.path)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True
