"""The documents of a YAML file as stretches of its text, so that one can be replaced (or one
added) and the others, with their comments and layout, stay exactly as they were written."""

from __future__ import annotations

import re

import yaml

from interlink.errors import BadRequest

_Parser: type[yaml.BaseLoader] = getattr(yaml, "CBaseLoader", yaml.BaseLoader)
#: Lines before a document's content that belong to it: its ``---``, comments, blank lines.
_LEAD = re.compile(r"(?:---[ \t]*(?:#.*)?\n|[ \t]*#.*\n|[ \t]*\n)*")


def spans(text: str) -> list[tuple[int, int]]:
    """Where each document of ``text`` starts and ends (character offsets), in order."""
    out: list[tuple[int, int]] = []
    parser = _Parser(text)
    start = 0
    try:
        while parser.check_event():
            event = parser.get_event()  # type: ignore[no-untyped-call]
            if isinstance(event, yaml.DocumentEndEvent) and event.end_mark is not None:
                end = event.end_mark.index
                out.append((start, end))
                start = end
    except yaml.YAMLError as exc:
        raise BadRequest(f"the file is not valid YAML, so it is not edited here: {exc}") from None
    finally:
        parser.dispose()
    return out


def replace(text: str, index: int, document: str) -> str:
    """``text`` with its document ``index`` replaced by ``document`` (its leading separator
    and comments kept)."""
    found = spans(text)
    if index >= len(found):
        raise BadRequest("the object's document is no longer in its file; open it again")
    start, end = found[index]
    lead = _LEAD.match(text, start)
    keep = lead.end() if lead is not None else start
    tail = text[end:]
    body = document if document.endswith("\n") else document + "\n"
    return text[:keep] + body + tail


def append(text: str | None, document: str) -> str:
    """``text`` (a file, or None for a new one) with ``document`` added at its end."""
    if not text or not text.strip():
        return document
    return text + ("" if text.endswith("\n") else "\n") + "---\n" + document
