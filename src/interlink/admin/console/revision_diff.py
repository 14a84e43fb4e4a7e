"""What one estate revision changed against the one before it, object by object: added,
removed and changed objects, each with a unified diff of its YAML.

The store keeps each revision's files (a bundle per content hash, store/revisions.py), so an
object's YAML is read back from them as written, with anything under a sensitive key masked as
the admin API masks it. A revision recorded without its files (by an older version) still lists
what changed, from the object hashes every revision keeps, without the YAML."""

from __future__ import annotations

import difflib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, get_args

import yaml

from interlink.estate.references import redact
from interlink.runtime.bundle import BundleError, unpack
from interlink.runtime.snapshot import change_summary
from interlink.store import Revision, Store

Change = Literal["added", "removed", "changed"]
CHANGES: Final[tuple[Change, ...]] = get_args(Change)
_YAML: Final = (".yaml", ".yml")
#: Revisions' objects read back, by content hash: a content never changes under its hash.
_KEPT: Final = 8
_cache: OrderedDict[str, dict[str, str] | None] = OrderedDict()
_lock = threading.Lock()


@dataclass(frozen=True)
class ObjectDiff:
    key: str
    change: Change
    lines: tuple[str, ...]  # the unified diff, without its two file header lines
    shown: bool  # False: the YAML of one side is not in the store


def _loader() -> type[yaml.SafeLoader]:
    return getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it


def objects_of(files: dict[str, bytes]) -> dict[str, str]:
    """Each object's YAML in ``files`` (a revision's), by its key (``Route/orders``)."""
    found: dict[str, str] = {}
    for path in sorted(files):
        if not path.endswith(_YAML):
            continue
        try:
            docs = list(yaml.load_all(files[path], Loader=_loader()))
        except yaml.YAMLError:
            continue  # a contract's file, say: the estate loaded, so no object is in it
        for doc in docs:
            kind = doc.get("kind") if isinstance(doc, dict) else None
            meta = doc.get("metadata") if isinstance(doc, dict) else None
            name = meta.get("name") if isinstance(meta, dict) else None
            if isinstance(kind, str) and isinstance(name, str):
                found[f"{kind}/{name}"] = yaml.safe_dump(
                    redact(doc), sort_keys=False, allow_unicode=True, width=100
                )
    return found


def _objects(store: Store, content_hash: str) -> dict[str, str] | None:
    """The objects of the revision with ``content_hash``; None when its files were not kept."""
    with _lock:
        if content_hash in _cache:
            _cache.move_to_end(content_hash)
            return _cache[content_hash]
    bundle = store.revisions.bundle(content_hash)
    try:
        objects = None if bundle is None else objects_of(unpack(bundle))
    except BundleError:
        objects = None
    with _lock:
        _cache[content_hash] = objects
        while len(_cache) > _KEPT:
            _cache.popitem(last=False)
    return objects


def previous(store: Store, revision: Revision) -> Revision | None:
    before = store.revisions.list(limit=1, before_id=revision.id)
    return before[0] if before else None


def changes(revision: Revision, before: Revision | None) -> list[tuple[str, Change]]:
    """Every object ``revision`` added, removed or changed against ``before``, by key: from
    the object hashes, without reading any file."""
    summary = change_summary(before.object_hashes if before else None, revision.object_hashes)
    found: list[tuple[str, Change]] = []
    for change in CHANGES:
        found += [(key, change) for key in summary[change]]
    return sorted(found)


def diff(
    store: Store,
    revision: Revision,
    before: Revision | None,
    keys: Sequence[tuple[str, Change]],
) -> list[ObjectDiff]:
    """The YAML diffs of ``keys`` (a page of :func:`changes`) between ``before`` and
    ``revision`` (blocking: reads both revisions' files, once per content)."""
    new = _objects(store, revision.hash)
    old = _objects(store, before.hash) if before else {}
    out: list[ObjectDiff] = []
    for key, change in keys:
        a = None if old is None else (old.get(key, "") if change != "added" else "")
        b = None if new is None else (new.get(key, "") if change != "removed" else "")
        out.append(_one(key, change, a, b, before, revision))
    return out


def _one(
    key: str, change: Change, a: str | None, b: str | None, before: Revision | None, rev: Revision
) -> ObjectDiff:
    if a is None or b is None:
        return ObjectDiff(key, change, (), shown=False)
    lines = difflib.unified_diff(
        a.splitlines(),
        b.splitlines(),
        f"revision {before.id}" if before else "nothing",
        f"revision {rev.id}",
        lineterm="",
        n=3,
    )
    return ObjectDiff(key, change, tuple(lines)[2:], shown=True)
