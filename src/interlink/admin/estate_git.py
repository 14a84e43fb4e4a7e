"""An estate file proposed as a change in the estate's git repository: a new branch holding
one commit, on top of the checked-out commit, with the file. Made with git's plumbing through
a temporary index, so the working tree, the index and the checked-out branch are untouched:
what runs does not change until someone merges the branch."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from interlink.errors import InterlinkError

#: The longest a git command may take here: these touch one file.
TIMEOUT: Final = 30.0


class GitRefused(InterlinkError):
    """No change could be opened: not a repository, no commit to start from, git failed."""

    status = 409
    title = "No change opened"


@dataclass(frozen=True)
class Change:
    branch: str
    commit: str


def _git(repo: Path, *args: str, text: str | None = None, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(
            ["git", "-C", str(repo), *args],
            input=text,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            env={**os.environ, **(env or {})},
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitRefused(f"git could not run: {exc}") from None
    if done.returncode != 0:
        first = (done.stderr.strip().splitlines() or ["failed"])[0]
        raise GitRefused(f"git {args[0]}: {first}")
    return done.stdout.strip()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.-]+", "-", text.lower()).strip("-.")[:60] or "change"


def open_change(root: Path, relative: str, text: str, author: str, author_id: str) -> Change:
    """Commit ``text`` as ``relative`` (under the estate directory ``root``) on a new branch
    of the repository holding ``root``; blocking."""
    try:
        top = Path(_git(root, "rev-parse", "--show-toplevel")).resolve()
    except GitRefused:
        raise GitRefused(
            "the estate directory is not in a git repository, so no change can be opened there"
        ) from None
    try:
        head = _git(top, "rev-parse", "--verify", "HEAD^{commit}")
    except GitRefused:
        raise GitRefused(
            "the estate's git repository has no commit to start a branch from"
        ) from None
    path = (root / relative).resolve().relative_to(top).as_posix()
    blob = _git(top, "hash-object", "-w", "--stdin", text=text)
    who = {
        "GIT_AUTHOR_NAME": author,
        "GIT_AUTHOR_EMAIL": f"token-{author_id}@interlink.invalid",
        "GIT_COMMITTER_NAME": author,
        "GIT_COMMITTER_EMAIL": f"token-{author_id}@interlink.invalid",
    }
    with tempfile.TemporaryDirectory(prefix="interlink-index-") as scratch:
        index = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        _git(top, "read-tree", head, env=index)
        _git(top, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=index)
        tree = _git(top, "write-tree", env=index)
    message = f"Change {relative} from the Interlink console\n\nBy {author} (token {author_id})."
    commit = _git(top, "commit-tree", tree, "-p", head, "-m", message, env=who)
    branch = f"interlink/console/{_slug(author)}/{_slug(Path(relative).stem)}-{commit[:10]}"
    _git(top, "update-ref", f"refs/heads/{branch}", commit, "")  # "": only if it is new
    return Change(branch, commit)
