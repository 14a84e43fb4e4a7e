"""A data-plane node's last good revision on disk: written whole, read back as written, and a
damaged file is one clear error."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from interlink.errors import EstateError
from interlink.runtime.bundle import pack
from interlink.runtime.lastgood import last_good_path, load_last_good, save_last_good
from interlink.store import Revision


def revision(id: int) -> Revision:
    return Revision(
        id=id,
        hash=f"{id:064x}",
        applied_at=datetime(2026, 12, 6, 10, 0, tzinfo=UTC),
        applied_by="token:ci",
        source="apply",
        summary={"added": ["Route/orders"], "changed": [], "removed": []},
        object_hashes={"Route/orders": "1" * 64},
    )


def test_nothing_written_is_none(tmp_path: Path) -> None:
    assert load_last_good(tmp_path / "edge") is None


def test_the_last_written_revision_is_read_back(tmp_path: Path) -> None:
    state = tmp_path / "edge"
    first = pack({"estate.yaml": b"one\n"})
    second = pack({"estate.yaml": b"two\n", "contracts/a.yaml": b"{}\n"})
    save_last_good(state, revision(1), first)
    save_last_good(state, revision(2), second)
    assert load_last_good(state) == (revision(2), second)
    assert [p.name for p in state.iterdir()] == [last_good_path(state).name]  # no scratch left


@pytest.mark.parametrize(
    "content",
    ['{"format": 1, "revision": {"id": 1}}', "not json", '{"format": 9}', "[]"],
    ids=["fields-missing", "not-json", "other-format", "not-an-object"],
)
def test_a_damaged_file_is_one_clear_error(tmp_path: Path, content: str) -> None:
    last_good_path(tmp_path).write_text(content, encoding="utf-8")
    with pytest.raises(EstateError, match=r"last good revision .*last-good\.json cannot be read"):
        load_last_good(tmp_path)
