"""YAML (and JSON) documents that remember where every key and value came from.

PyYAML's C composer builds the node tree; we convert nodes ourselves so that each key and value
keeps its line and column, duplicate keys are reported instead of silently overwritten, and the
amount of work is bounded (alias bombs, absurd nesting).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interlink.estate.findings import Finding, Location

PathKey = tuple[str | int, ...]
MAX_NODES = 2_000_000
MAX_DEPTH = 200
# libyaml's composer recurses in C and overflows the stack past ~20,000 nested collections:
# text with this many openers is scanned for its depth before it is composed.
SCAN_NESTING_OVER = 5_000
# JSON numbers with an exponent ("1e5"), which YAML 1.1 reads as strings.
_JSON_EXPONENT = re.compile(r"^-?(0|[1-9][0-9]*)(\.[0-9]+)?[eE][-+]?[0-9]+$")

# libyaml's base loader composes nodes without calling back into Python to resolve each scalar's
# type; we resolve plain scalars ourselves with the same YAML 1.1 rules as PyYAML's safe loader,
# which makes loading about twice as fast.
_PLAIN = "interlink:plain"  # a plain scalar with no tag: its type is resolved on conversion
_BaseLoader: type[yaml.BaseLoader] = getattr(yaml, "CBaseLoader", yaml.BaseLoader)


class _Loader(_BaseLoader):  # type: ignore[valid-type,misc]
    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode and implicit[0]:
            return _PLAIN
        return str(super().resolve(kind, value, implicit))


_IMPLICIT = yaml.resolver.Resolver.yaml_implicit_resolvers
_SAFE = yaml.SafeLoader("")  # only its constructors are used, one scalar at a time
_STR = "tag:yaml.org,2002:str"
_MERGE = "tag:yaml.org,2002:merge"


class _Positions:
    """The text some documents were read from, parsed again with positions on first use: a
    file of fifty objects with findings on each is parsed twice, not fifty-one times."""

    def __init__(self, text: str) -> None:
        self.text: str | None = text
        self.parsed: list[Document] = []

    def documents(self, file: Path) -> list[Document]:
        if self.text is not None:
            text, self.text = self.text, None
            self.parsed, _ = parse_documents(text, file, json_values=True, positions=True)
        return self.parsed


@dataclass(slots=True)  # an estate may hold tens of thousands of them
class Document:
    """One YAML document: its data plus the position of every key and value in it."""

    file: Path
    index: int
    data: Any
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # Positions are only needed to report a finding, so they are worked out on first use from
    # the text the document was read from, once for all the documents of that text.
    pending: _Positions | None = field(default=None, repr=False)

    def location(self, path: PathKey = (), *, key: bool = False) -> Location:
        """The closest known position for ``path`` (its key when ``key`` is set)."""
        if self.pending is not None:
            docs, self.pending = self.pending.documents(self.file), None
            if self.index < len(docs):
                self.values, self.keys = docs[self.index].values, docs[self.index].keys
        table = self.keys if key else self.values
        probe = path
        while True:
            pos = table.get(probe) or self.values.get(probe)
            if pos is not None:
                return Location(self.file, pos[0], pos[1])
            if not probe:
                return Location(self.file, 1, 1)
            probe = probe[:-1]


class _Budget:
    def __init__(self) -> None:
        self.nodes = 0
        self.json_numbers = False  # plain scalars follow JSON's number grammar (.json files)
        self.merges: dict[yaml.Node, list[tuple[Any, Any]]] = {}  # merged mappings


class YamlProblem(Exception):
    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message, self.line, self.col = message, line, col


def read_documents(
    file: Path, *, json_values: bool = False
) -> tuple[list[Document], list[Finding]]:
    """Parse every document of ``file``. Problems come back as findings, never as exceptions.

    ``json_values`` turns YAML-only scalar types (dates, timestamps) into strings, as contract
    files are JSON data whatever syntax they are written in.
    """
    try:
        raw = file.read_bytes()
    except OSError as exc:
        return [], [_finding(file, 1, 1, "YAML_UNREADABLE", f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [], [_finding(file, 1, 1, "YAML_ENCODING", f"not UTF-8 text ({exc.reason})")]
    if json_values and file.suffix.lower() == ".json":
        fast = _json_document(text, file)
        if fast is not None:
            return [fast], []
    return parse_documents(text, file, json_values=json_values)


class _DuplicateKey(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise _DuplicateKey
    return out


def _json_document(text: str, file: Path) -> Document | None:
    """Valid JSON through the C JSON parser, about twenty times faster than composing YAML.

    Anything unusual (a syntax error, a duplicate key, absurd nesting) returns None, and the
    YAML path reports it with its position."""
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicates)
    except (ValueError, _DuplicateKey, RecursionError):
        return None
    if _too_deep(data, 0):
        return None
    return Document(file=file, index=0, data=data, pending=_Positions(text))


def _too_deep(node: Any, depth: int) -> bool:
    if depth > MAX_DEPTH:
        return True
    if isinstance(node, dict):
        return any(_too_deep(v, depth + 1) for v in node.values())
    if isinstance(node, list):
        return any(_too_deep(v, depth + 1) for v in node)
    return False


def parse_documents(
    text: str, file: Path, *, json_values: bool = False, positions: bool = False
) -> tuple[list[Document], list[Finding]]:
    """Every document in ``text``; with ``positions`` each records where its keys and values
    are at once, otherwise on the first call of ``location``."""
    docs: list[Document] = []
    pending = None if positions else _Positions(text)
    loader = _Loader(text)
    budget = _Budget()
    budget.json_numbers = json_values and file.suffix.lower() == ".json"
    try:
        _check_depth(text)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            doc = Document(file=file, index=len(docs), data=None, pending=pending)
            doc.data = _convert(
                node, () if positions else None, doc, loader, budget, json_values, 0
            )
            docs.append(doc)
    except yaml.reader.ReaderError as exc:  # a character YAML forbids; position is in bytes
        before = text.encode("utf-8")[: exc.position].decode("utf-8", errors="ignore")
        line, col = before.count("\n") + 1, len(before) - before.rfind("\n")
        what = f"#x{exc.character:04x}" if isinstance(exc.character, int) else repr(exc.character)
        message = f"invalid YAML: unacceptable character {what}: {exc.reason}"
        return docs, [_finding(file, line, col, "YAML_SYNTAX", message)]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        return docs, [_finding(file, line, col, "YAML_SYNTAX", f"invalid YAML: {problem}")]
    except YamlProblem as exc:
        return docs, [_finding(file, exc.line, exc.col, "YAML_STRUCTURE", exc.message)]
    except yaml.YAMLError as exc:
        return docs, [_finding(file, 1, 1, "YAML_SYNTAX", f"invalid YAML: {exc}")]
    finally:
        loader.dispose()
    return docs, []


def _finding(file: Path, line: int, col: int, code: str, message: str) -> Finding:
    return Finding("error", code, message, Location(file, line, col))


def _check_depth(text: str) -> None:
    """Refuse collections nested deeper than MAX_DEPTH before libyaml's composer sees them."""
    if sum(text.count(c) for c in "[{-?") < SCAN_NESTING_OVER:
        return
    parser = _Loader(text)
    depth = 0
    try:
        while parser.check_event():
            event = parser.get_event()
            if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
                depth += 1
                if depth > MAX_DEPTH + 1:  # as _convert counts: the root is depth 0
                    mark = event.start_mark
                    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
                    raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", line, col)
            elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
                depth -= 1
    finally:
        parser.dispose()


@functools.lru_cache(maxsize=8192)  # estates repeat the same scalars (string, object, true…)
def _implicit_tag(value: str) -> str:
    """The tag PyYAML's safe resolver gives a plain scalar (int, bool, null, …, else str)."""
    candidates = _IMPLICIT.get(value[:1] if value else "", [])
    for tag, regexp in [*candidates, *_IMPLICIT.get(None, [])]:
        if regexp.match(value):
            return str(tag)
    return _STR


def _is_merge(key: yaml.Node) -> bool:
    if key.tag == _MERGE:
        return True
    return key.tag == _PLAIN and key.value == "<<"


def _construct(node: yaml.Node, loader: yaml.BaseLoader) -> Any:
    """A scalar's value; one its tag cannot take (`!!int abc`) is a YamlProblem."""
    tag = node.tag
    if tag == _PLAIN:
        tag = _implicit_tag(node.value)
        if tag == _STR:
            return node.value
    constructor = _SAFE.yaml_constructors.get(tag)
    if constructor is None:
        raise yaml.constructor.ConstructorError(
            None, None, f"could not determine a constructor for the tag {tag!r}", node.start_mark
        )
    try:
        return constructor(_SAFE, node)
    except yaml.YAMLError:
        raise
    except Exception as exc:  # PyYAML's scalar constructors fail in many ways (`!!int ''`)
        shown = str(tag).replace("tag:yaml.org,2002:", "!!")
        mark = node.start_mark
        message = f"invalid {shown} value {node.value!r}"
        raise YamlProblem(message, mark.line + 1, mark.column + 1) from exc


def _convert(  # noqa: C901 - one branch per node type, kept whole for speed
    node: yaml.Node,
    path: PathKey | None,  # None: positions are not being recorded
    doc: Document,
    loader: yaml.BaseLoader,
    budget: _Budget,
    json_values: bool,
    depth: int,
) -> Any:
    budget.nodes += 1
    mark = node.start_mark
    line, col = mark.line + 1, mark.column + 1
    if budget.nodes > MAX_NODES:
        raise YamlProblem("document too large (too many values or aliases)", line, col)
    if depth > MAX_DEPTH:
        raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", line, col)
    if path is not None:
        doc.values[path] = (line, col)
    if node.tag == _PLAIN:  # the common case, kept short: a plain scalar
        text = node.value
        tag = _implicit_tag(text)
        if tag == _STR:
            if budget.json_numbers and _JSON_EXPONENT.match(text):
                return float(text)
            return text
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in _merged_pairs(node, loader, budget):
            if not isinstance(key_node, yaml.ScalarNode):
                raise YamlProblem("mapping keys must be plain values", line, col)
            text = key_node.value
            plain_text = key_node.tag == _PLAIN and _implicit_tag(text) == _STR
            key = text if plain_text else str(_construct(key_node, loader))
            key_mark = key_node.start_mark
            kpos = (key_mark.line + 1, key_mark.column + 1)
            if key in out:
                raise YamlProblem(f"duplicate key '{key}'", *kpos)
            child = None
            if path is not None:
                child = (*path, key)
                doc.keys[child] = kpos
            out[key] = _convert(value_node, child, doc, loader, budget, json_values, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [
            _convert(
                item,
                None if path is None else (*path, i),
                doc,
                loader,
                budget,
                json_values,
                depth + 1,
            )
            for i, item in enumerate(node.value)
        ]
    value = _construct(node, loader)
    plain = isinstance(node, yaml.ScalarNode) and not node.style
    if budget.json_numbers and plain and isinstance(value, str) and _JSON_EXPONENT.match(value):
        return float(value)
    if json_values and isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if json_values and isinstance(value, bytes):
        raise YamlProblem("binary values are not allowed here", line, col)
    return value


def _merged_pairs(
    node: yaml.MappingNode,
    loader: yaml.BaseLoader,
    budget: _Budget,
    active: frozenset[yaml.Node] = frozenset(),
) -> list[tuple[Any, Any]]:
    """Key/value node pairs with YAML merge keys (`<<: *base`) expanded: explicit keys win over
    merged ones, and an earlier merged mapping over a later one. A merged mapping is expanded
    once (aliases would make merges exponential); one that merges itself is refused."""
    pairs: list[tuple[Any, Any]] = []
    merged: list[tuple[Any, Any]] = []
    for key_node, value_node in node.value:
        if _is_merge(key_node):
            sources = (
                value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            )
            for src in sources:
                mark = src.start_mark
                if not isinstance(src, yaml.MappingNode):
                    raise YamlProblem("'<<' merges only mappings", mark.line + 1, mark.column + 1)
                if src is node or src in active:
                    raise YamlProblem(
                        "a mapping merges itself ('<<')", mark.line + 1, mark.column + 1
                    )
                if src not in budget.merges:  # keyed by the node itself, which keeps it alive
                    budget.merges[src] = _merged_pairs(src, loader, budget, active | {node})
                merged.extend(budget.merges[src])
        else:
            pairs.append((key_node, value_node))
    if not merged:
        return pairs
    taken = {k.value for k, _ in pairs if isinstance(k, yaml.ScalarNode)}
    out: list[tuple[Any, Any]] = []
    for pair in merged:
        if isinstance(pair[0], yaml.ScalarNode):
            if pair[0].value in taken:
                continue
            taken.add(pair[0].value)
        out.append(pair)
    return out + pairs
