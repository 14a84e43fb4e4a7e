"""A loaded estate with one of its files changed, without reading the others again.

The console's editor checks every draft against the whole estate; parsing every YAML file for
each keystroke took seconds on a large estate. Here the objects of the unchanged files are taken
from an estate loaded already and only the changed file is parsed, so that loading the result
gives what :func:`~interlink.estate.loader.load_estate` would give for the directory with the
file in place. Where that cannot be made exact, :func:`amended` answers None and the caller
loads the directory.
"""

from __future__ import annotations

from pathlib import Path

from interlink.estate.findings import Finding
from interlink.estate.kinds import Api, DataProduct, Event
from interlink.estate.loader import add_file
from interlink.estate.model import Estate, Loaded
from interlink.estate.yamlsource import parse_documents


def amended(base: Estate, file: Path, text: str) -> tuple[Estate, list[Finding]] | None:
    """``base`` with ``file`` (absolute, under ``base.root``) holding ``text``, and the
    loader's findings; None where only a full load is exact.

    ``base`` must be an estate loaded without findings of the loader (a running snapshot's):
    its own files' problems are not kept, so they could not be reported again."""
    if file in base.contracts or file in base.other_documents:
        return None  # see below: a contract, or a file of other documents
    by_file: dict[Path, list[Loaded]] = {}
    for item in base:
        by_file.setdefault(item.doc.file, []).append(item)
    files = sorted({*base.files, file})
    estate = Estate(root=base.root, files=files)
    findings: list[Finding] = []
    for each in files:
        if each == file:
            findings.extend(add_file(estate, file, *parse_documents(text, file, json_values=True)))
            continue
        for item in by_file.get(each, ()):
            if item.key in estate.objects:
                # The changed file, read first, now defines a name this later file does too:
                # the later file's document becomes the duplicate, and its data (released
                # after loading) would be needed to treat it as the loader does.
                return None
            estate.objects[item.key] = item
        if each in base.other_documents:
            estate.other_documents[each] = base.other_documents[each]
    if file in estate.other_documents or _names_contract(estate, file):
        # A file an object reads as a contract, or one without objects (a file a contract or a
        # flow template refers to): the passes after loading read such files from the
        # directory, which still holds the old text, so only the full check is exact.
        return None
    return estate, findings


def _names_contract(base: Estate, file: Path) -> bool:
    """Whether some object names ``file`` as its contract or schema (it may not be loaded as
    one: a file a contract cannot be read from is left out of ``base.contracts``)."""
    for item in base:
        for relative in _contract_files(item):
            if item.resolve_file(relative) == file:
                return True
    return False


def _contract_files(item: Loaded) -> list[str]:
    obj = item.obj
    if isinstance(obj, Api):
        return [obj.spec.contract]
    if isinstance(obj, Event):
        return [version.file for version in obj.spec.schemas]
    if isinstance(obj, DataProduct) and obj.spec.contract.file:
        return [obj.spec.contract.file]
    return []
