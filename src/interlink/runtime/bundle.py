"""A revision's estate content as one deterministic, compressed blob: relative path → bytes.

The store keeps one per content hash, so a node can run a revision it did not load from its own
directory: it writes the files out under its state directory (:func:`materialise`) and compiles
them as usual. The same files in give the same bytes out (sorted paths, no times, no owners), so
a bundle's identity is the revision hash.

Format: ``MAGIC`` then zlib of, for each file in path order, the UTF-8 path's length (4 bytes,
big-endian), the path, the content's length (8 bytes) and the content.
"""

from __future__ import annotations

import os
import shutil
import struct
import tempfile
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Final

from interlink.errors import EstateError
from interlink.estate.loader import SKIPPED_DIRS
from interlink.estate.model import Estate

MAGIC: Final = b"interlink-bundle/1\n"
BUNDLE_MEDIA_TYPE: Final = "application/vnd.interlink.bundle"
# What one revision may hold, uncompressed and compressed: an estate is text, and far smaller.
MAX_CONTENT_BYTES: Final = 64 * 1024 * 1024
MAX_BUNDLE_BYTES: Final = 16 * 1024 * 1024
# Files a contract may refer to by $ref, beside the estate's YAML and its named contracts.
_REFERABLE: Final = (".yaml", ".yml", ".json")


class BundleError(EstateError):
    """An estate that cannot travel as a revision bundle, or a bundle that cannot be read."""


class BundleTooLarge(BundleError):
    status = 413


def estate_files(estate: Estate) -> dict[str, bytes]:
    """What a revision of ``estate`` carries: its YAML files, the contract files its objects name
    and every other YAML or JSON file under its directory (a contract's ``$ref`` may name one)."""
    base = estate.root if estate.root.is_dir() else estate.root.parent
    paths = {*estate.files, *estate.contracts, *_referable(base)}
    files: dict[str, bytes] = {}
    total = 0
    for path in sorted(paths):
        try:
            rel = path.resolve().relative_to(base.resolve()).as_posix()
        except ValueError:
            raise BundleError(
                f"{path}: outside the estate directory {base}; a revision carries only the "
                "files under it"
            ) from None
        data = path.read_bytes()
        total += len(data)
        if total > MAX_CONTENT_BYTES:
            raise BundleTooLarge(
                f"the estate's files exceed {MAX_CONTENT_BYTES // (1024 * 1024)} MiB, the most "
                "one revision may hold"
            )
        files[rel] = data
    return files


def pack(files: Mapping[str, bytes]) -> bytes:
    """The bundle of ``files`` (relative POSIX path → bytes)."""
    body = bytearray()
    for rel in sorted(files):
        name = _checked(rel).encode()
        data = files[rel]
        body += struct.pack(">I", len(name)) + name + struct.pack(">Q", len(data)) + data
    bundle = MAGIC + zlib.compress(bytes(body), 6)
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise BundleTooLarge(
            f"the estate's bundle is {len(bundle)} bytes compressed, over the "
            f"{MAX_BUNDLE_BYTES // (1024 * 1024)} MiB one revision may hold"
        )
    return bundle


def pack_estate(estate: Estate) -> bytes:
    return pack(estate_files(estate))


def unpack(bundle: bytes) -> dict[str, bytes]:
    """The files in ``bundle``; raises ``BundleError`` for anything that is not a well-formed
    bundle within the limits, or that names a path outside its own directory."""
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise BundleTooLarge(
            f"the bundle is {len(bundle)} bytes, over the {MAX_BUNDLE_BYTES} one revision may hold"
        )
    if not bundle.startswith(MAGIC):
        raise BundleError("not an estate bundle (it must start with 'interlink-bundle/1')")
    inflate = zlib.decompressobj()
    try:
        body = inflate.decompress(bundle[len(MAGIC) :], MAX_CONTENT_BYTES + 1)
    except zlib.error as exc:
        raise BundleError(f"the bundle is corrupt: {exc}") from None
    if len(body) > MAX_CONTENT_BYTES or inflate.unconsumed_tail:
        raise BundleTooLarge(f"the bundle holds over {MAX_CONTENT_BYTES} bytes of files")
    if not inflate.eof:
        raise BundleError("the bundle is truncated")
    files: dict[str, bytes] = {}
    at = 0
    try:
        while at < len(body):
            (size,) = struct.unpack_from(">I", body, at)
            name = body[at + 4 : at + 4 + size].decode()
            at += 4 + size
            (length,) = struct.unpack_from(">Q", body, at)
            data = body[at + 8 : at + 8 + length]
            at += 8 + length
            if len(data) != length or name in files:
                raise BundleError("the bundle is corrupt: an entry is cut short or repeated")
            files[_checked(name)] = data
    except (struct.error, UnicodeDecodeError):
        raise BundleError("the bundle is corrupt: an entry cannot be read") from None
    if not files:
        raise BundleError("the bundle holds no files")
    return files


def materialise(files: Mapping[str, bytes], target: Path) -> Path:
    """Write ``files`` as the directory ``target`` (content-addressed: an existing one is kept,
    since its name is its content's hash). Written aside and renamed, so a crash never leaves a
    half-written revision under that name."""
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for rel, data in files.items():
            path = scratch / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        try:
            scratch.rename(target)
        except OSError:
            if not target.is_dir():  # not another node's copy, written first: a real failure
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def _checked(rel: str) -> str:
    path = PurePosixPath(rel)
    parts = path.parts
    if (
        not rel
        or path.is_absolute()
        or "\\" in rel
        or "\0" in rel
        or any(p in ("..", ".") for p in parts)
        or str(path) != rel
    ):
        raise BundleError(f"the bundle names {rel!r}, which is not a plain relative path")
    return rel


def _referable(root: Path) -> Iterable[Path]:
    for folder, dirs, names in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS and not d.startswith("."))
        yield from (Path(folder) / n for n in names if n.endswith(_REFERABLE))
