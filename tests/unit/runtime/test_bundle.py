"""Revision bundles: deterministic, content-addressed, bounded, and safe to unpack."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from interlink.runtime import bundle as bundles
from interlink.runtime.bundle import (
    MAGIC,
    BundleError,
    BundleTooLarge,
    estate_files,
    materialise,
    pack,
    pack_estate,
    unpack,
)
from interlink.runtime.snapshot import compile_snapshot


def test_a_written_out_bundle_compiles_to_the_revision_it_came_from(retail_dir: Path) -> None:
    snapshot = compile_snapshot(retail_dir)
    files = unpack(pack_estate(snapshot.estate))
    copy = materialise(files, retail_dir.parent / "copy" / snapshot.content_hash)
    again = compile_snapshot(copy)
    assert again.content_hash == snapshot.content_hash
    assert again.object_hashes == snapshot.object_hashes
    assert pack_estate(again.estate) == pack_estate(snapshot.estate)  # same files, same bytes


def test_the_same_files_make_the_same_bundle_whatever_their_order() -> None:
    files = {"b/x.yaml": b"two", "a.yaml": b"one"}
    assert pack(files) == pack(dict(reversed(files.items())))
    assert unpack(pack(files)) == files


def test_files_outside_the_estate_cannot_travel(tmp_path: Path, retail_dir: Path) -> None:
    snapshot = compile_snapshot(retail_dir)
    outside = tmp_path / "elsewhere.json"
    outside.write_text("{}")
    snapshot.estate.contracts[outside] = next(iter(snapshot.estate.contracts.values()))
    with pytest.raises(BundleError, match="outside the estate directory"):
        estate_files(snapshot.estate)


def test_an_estate_past_the_cap_is_refused(
    retail_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundles, "MAX_CONTENT_BYTES", 1000)
    with pytest.raises(BundleTooLarge, match="the most one revision may hold") as caught:
        estate_files(compile_snapshot(retail_dir).estate)
    assert caught.value.status == 413


def test_a_bundle_inflating_past_the_cap_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = pack({"a.yaml": b"\0" * 100_000})
    monkeypatch.setattr(bundles, "MAX_CONTENT_BYTES", 1000)
    with pytest.raises(BundleTooLarge):
        unpack(bomb)


def _raw(*entries: tuple[str, bytes]) -> bytes:
    body = b"".join(
        struct.pack(">I", len(n.encode())) + n.encode() + struct.pack(">Q", len(d)) + d
        for n, d in entries
    )
    return MAGIC + zlib.compress(body)


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"PK\x03\x04zip", "not an estate bundle"),
        (MAGIC + b"not zlib", "corrupt"),
        (MAGIC + zlib.compress(b"x" * 10)[:-3], "truncated|corrupt"),
        (_raw(("../escape.yaml", b"x")), "not a plain relative path"),
        (_raw(("/etc/passwd", b"x")), "not a plain relative path"),
        (_raw(("a/./b.yaml", b"x")), "not a plain relative path"),
        (_raw(("a\\b.yaml", b"x")), "not a plain relative path"),
        (_raw(("a.yaml", b"x"), ("a.yaml", b"y")), "repeated"),
        (_raw(), "no files"),
        (MAGIC + zlib.compress(struct.pack(">I", 99) + b"short"), "corrupt"),
    ],
)
def test_a_bundle_that_is_not_well_formed_is_refused(blob: bytes, message: str) -> None:
    with pytest.raises(BundleError, match=message):
        unpack(blob)


def test_materialising_keeps_an_existing_revision_folder(tmp_path: Path) -> None:
    target = materialise({"a.yaml": b"one"}, tmp_path / "rev")
    assert materialise({"a.yaml": b"changed"}, target) == target
    assert (target / "a.yaml").read_bytes() == b"one"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rev"]  # no scratch folder left
