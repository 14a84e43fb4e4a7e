"""CloudEvents 1.0 over HTTP: binary, structured and batched content modes, and back to JSON.

Parsing never raises anything but :class:`~interlink.errors.MalformedEvent`, whose violations
carry a JSON pointer into the event as written in structured mode (``/specversion``, ``/data``,
``/2/id`` inside a batch), so the HTTP layer can answer with one problem document.

What is checked, per the CloudEvents 1.0 core spec, its JSON format and its HTTP binding:

- ``specversion`` is ``"1.0"``; ``id``, ``source`` and ``type`` are present and non-empty;
  ``source`` is a URI-reference and ``dataschema`` an absolute URI (RFC 3986 characters only);
  ``time`` is an RFC 3339 timestamp (kept as written); ``datacontenttype`` is a media type.
- String values hold no control characters, unpaired surrogates or Unicode noncharacters.
- Extension names are 1-20 of ``a-z0-9``; values are strings, booleans or 32-bit integers.
  A ``null`` attribute counts as absent. Nothing absent is filled in.
- Data: when ``datacontenttype`` is absent or JSON (``*/json``, ``*/*+json``) the data is a
  JSON value, whether it came as ``data``, as ``data_base64`` or as a binary-mode body. Other
  content types are carried as they came: text sent in ``data`` as ``str``, ``data_base64`` and
  binary-mode bodies as ``bytes``.

Everything is bounded: string attributes (:data:`MAX_ATTRIBUTE_LENGTH`), extension count
(:data:`MAX_EXTENSIONS`), data nesting (:data:`MAX_DEPTH`), batch length (``max_events``) and
the number of violations reported (:data:`MAX_VIOLATIONS`). The size of a body is the caller's
bound (the HTTP server's limit); nothing here reads more than it is given.

Duplicate JSON members keep the last value, as Python's parser does; the event is re-serialised
by :meth:`CloudEvent.to_structured`, so every later reader sees that one value.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final
from urllib.parse import unquote_to_bytes

from interlink.errors import MalformedEvent, Violation

SPEC_VERSION: Final = "1.0"
STRUCTURED_MEDIA_TYPE: Final = "application/cloudevents+json"
BATCH_MEDIA_TYPE: Final = "application/cloudevents-batch+json"

#: Most events one batch may hold, unless the caller says otherwise.
MAX_BATCH: Final = 1000
#: Longest string attribute value, in characters.
MAX_ATTRIBUTE_LENGTH: Final = 4096
#: Most extension attributes one event may carry.
MAX_EXTENSIONS: Final = 64
#: Deepest nesting of objects and arrays inside ``data``.
MAX_DEPTH: Final = 64
#: Most violations one error lists; the rest are counted.
MAX_VIOLATIONS: Final = 100

Extension = str | int | bool

_CORE: Final = ("specversion", "id", "source", "type", "datacontenttype", "dataschema")
_OPTIONAL: Final = ("subject", "time")
_NAMES: Final = _CORE + _OPTIONAL
_ATTRIBUTES: Final = frozenset(_NAMES)
_REQUIRED: Final = frozenset(("specversion", "id", "source", "type"))
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

_NAME = re.compile(r"[a-z0-9]{1,20}\Z")
# Control characters, surrogates and noncharacters are not allowed in CloudEvents strings.
_NONCHARACTERS = "".join(
    f"{chr(plane * 0x10000 + 0xFFFE)}{chr(plane * 0x10000 + 0xFFFF)}" for plane in range(17)
)
_BAD_CHARS = re.compile(f"[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef{_NONCHARACTERS}]")
# RFC 3986 characters, with '%' only as the start of a percent-encoded octet.
_URI_CHARS = re.compile(r"[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]+\Z")
_LONE_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_MEDIA_NAME = r"[A-Za-z0-9!#$%&'*+.^_`|~\-]+"
_MEDIA_TYPE = re.compile(f"{_MEDIA_NAME}/{_MEDIA_NAME}(?:[ \\t]*;.*)?\\Z", re.DOTALL)
_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.\d+)?"
    r"(?:[Zz]|[+-](\d{2}):(\d{2}))\Z",
    re.ASCII,
)
# A lone surrogate can only reach parsed JSON through a \uD800-\uDFFF escape; look for one in
# the raw bytes first, so the common case costs one scan in C.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_QUOTED_PAIR = re.compile(r"\\(.)", re.DOTALL)
_TOO_DEEP = f"JSON nests too deeply: data may hold objects and arrays {MAX_DEPTH} levels deep"


# Built once: json.dumps with options would build an encoder per call.
_UTF8_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
_ASCII_ENCODER = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class _Absent(Enum):
    ABSENT = "absent"

    def __repr__(self) -> str:
        return "ABSENT"


# An attribute whose value was already reported as broken while it was being decoded.
_REPORTED: Final = object()

#: The ``data`` of an event that has none (distinct from JSON ``null`` data).
ABSENT: Final = _Absent.ABSENT


@dataclass(frozen=True, slots=True)
class CloudEvent:
    """One validated CloudEvent.

    ``data`` is a JSON value when the content type is JSON (or absent), ``str`` or ``bytes``
    otherwise, and :data:`ABSENT` when the event carries no data.
    """

    id: str
    source: str
    type: str
    data: Any = ABSENT
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    time: str | None = None
    extensions: Mapping[str, Extension] = field(default_factory=dict)
    specversion: str = SPEC_VERSION

    @property
    def has_data(self) -> bool:
        return self.data is not ABSENT

    @property
    def has_json_data(self) -> bool:
        return self.has_data and not isinstance(self.data, bytes) and is_json(self.datacontenttype)

    def to_json_object(self, traceparent: str | None = None) -> dict[str, Any]:
        """The structured-mode JSON object: core attributes first, extensions sorted, data last;
        with ``traceparent`` (a publish's trace context) among them unless the event has its
        own."""
        obj: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
        }
        if self.datacontenttype is not None:
            obj["datacontenttype"] = self.datacontenttype
        if self.dataschema is not None:
            obj["dataschema"] = self.dataschema
        if self.subject is not None:
            obj["subject"] = self.subject
        if self.time is not None:
            obj["time"] = self.time
        extensions = self.extensions
        if traceparent is not None and "traceparent" not in extensions:
            extensions = {**extensions, "traceparent": traceparent}
        for name in sorted(extensions):
            obj[name] = extensions[name]
        if isinstance(self.data, bytes):
            obj["data_base64"] = base64.b64encode(self.data).decode("ascii")
        elif self.data is not ABSENT:
            obj["data"] = self.data
        return obj

    def to_structured(self, traceparent: str | None = None) -> bytes:
        """Compact structured-mode JSON (``application/cloudevents+json``), UTF-8; with
        ``traceparent`` as :meth:`to_json_object` puts it."""
        obj = self.to_json_object(traceparent)
        try:
            return _UTF8_ENCODER.encode(obj).encode("utf-8")
        except UnicodeEncodeError:  # an unpaired surrogate in a hand-built event: escape it
            return _ASCII_ENCODER.encode(obj).encode("ascii")


def is_json(content_type: str | None) -> bool:
    """Whether a ``datacontenttype`` declares JSON data (absent counts as JSON)."""
    if content_type is None:
        return True
    return _is_json_media(content_type)


@functools.lru_cache(maxsize=256)  # a handful of content types cover nearly every event
def _is_json_media(content_type: str) -> bool:
    subtype = content_type.partition(";")[0].strip().lower().partition("/")[2]
    return subtype == "json" or subtype.endswith("+json")


def pointer(*tokens: str | int) -> str:
    """A JSON pointer (RFC 6901) from unescaped tokens; no tokens is the whole document."""
    return "".join("/" + str(t).replace("~", "~0").replace("/", "~1") for t in tokens)


# --- entry points ----------------------------------------------------------------------------


def parse_http(
    headers: Mapping[str, str], body: bytes, *, max_events: int = MAX_BATCH
) -> list[CloudEvent]:
    """The events of one HTTP request, in whichever content mode its Content-Type names."""
    media = _media(_header(headers, "content-type"))
    if media == STRUCTURED_MEDIA_TYPE:
        return [parse_structured(body)]
    if media == BATCH_MEDIA_TYPE:
        return parse_batch(body, max_events=max_events)
    if media.startswith("application/cloudevents"):
        raise MalformedEvent(
            [Violation("", f"unsupported event format {media}; use {STRUCTURED_MEDIA_TYPE}")]
        )
    return [parse_binary(headers, body)]


def parse_binary(headers: Mapping[str, str], body: bytes) -> CloudEvent:  # noqa: C901 - one check per rule of binary mode
    """Binary content mode: attributes in ``ce-*`` headers, Content-Type, the body as data."""
    out: list[Violation] = []
    attrs: dict[str, Any] = {}
    content_type: str | None = None
    extensions = 0
    for raw_name, raw_value in headers.items():
        name = str(raw_name).lower()
        if name == "content-type":
            content_type = str(raw_value).strip() or None
            continue
        if not name.startswith("ce-"):
            continue
        attr = name[3:]
        problem = None
        if attr in attrs:
            problem = f"header {name} is given more than once"
        elif attr == "datacontenttype":
            problem = "in binary mode datacontenttype is the Content-Type header"
        elif attr == "data" or not _NAME.match(attr):
            problem = f"header {name} does not name a valid attribute"
        elif attr not in _ATTRIBUTES and (extensions := extensions + 1) > MAX_EXTENSIONS:
            out.append(Violation("", f"more than {MAX_EXTENSIONS} extension attributes"))
            break
        if problem is not None:
            out.append(Violation(pointer(attr), problem))
            continue
        value = _header_value(str(raw_value), attr, out)
        attrs[attr] = _REPORTED if value is None else value
    if content_type is not None:
        attrs["datacontenttype"] = content_type
        if _media(content_type).startswith("application/cloudevents"):
            out.append(Violation("/datacontenttype", f"{_media(content_type)} is not binary mode"))
    data_out: list[Violation] = []
    data: Any = ABSENT
    if body:
        data = _json_data(body, "/data", data_out) if is_json(content_type) else bytes(body)
    event = _event(attrs, (), out, data)
    out.extend(data_out)
    if out or event is None:
        raise _malformed(out)
    return event


def parse_structured(body: bytes) -> CloudEvent:
    """Structured content mode: one JSON object (``application/cloudevents+json``)."""
    out: list[Violation] = []
    value = _load_json(body, "", out, depth=MAX_DEPTH + 1)
    if not out and not isinstance(value, dict):
        out.append(Violation("", "a structured CloudEvent is a JSON object"))
    event = None if out else _event_from_object(value, (), out, _needs_surrogate_check(body))
    if out or event is None:
        raise _malformed(out)
    return event


def parse_batch(body: bytes, *, max_events: int = MAX_BATCH) -> list[CloudEvent]:
    """Batched content mode: a JSON array of structured events; all valid or none."""
    out: list[Violation] = []
    value = _load_json(body, "", out, depth=MAX_DEPTH + 2)
    if out:
        raise _malformed(out)
    if not isinstance(value, list):
        raise _malformed([Violation("", "a CloudEvents batch is a JSON array")])
    if len(value) > max_events:
        raise _malformed(
            [Violation("", f"the batch holds {len(value)} events; at most {max_events} allowed")]
        )
    surrogates = _needs_surrogate_check(body)
    events: list[CloudEvent] = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            out.append(Violation(pointer(index), "a CloudEvent is a JSON object"))
            continue
        event = _event_from_object(item, (index,), out, surrogates)
        if event is not None:
            events.append(event)
    if out:
        raise _malformed(out)
    return events


# --- structured objects ----------------------------------------------------------------------


def _event_from_object(
    obj: dict[str, Any], at: tuple[int, ...], out: list[Violation], surrogates: bool
) -> CloudEvent | None:
    attrs: dict[str, Any] = {}
    extensions = 0
    for name, value in obj.items():
        if name in ("data", "data_base64") or value is None:
            continue
        if name not in _ATTRIBUTES:
            extensions += 1
            if extensions > MAX_EXTENSIONS:
                out.append(Violation(pointer(*at), f"more than {MAX_EXTENSIONS} extensions"))
                return None
        attrs[name] = value
    data_out: list[Violation] = []
    data: Any = ABSENT
    has_data, has_base64 = "data" in obj, obj.get("data_base64") is not None
    if has_data and has_base64:
        message = "data and data_base64 exclude each other"
        data_out.append(Violation(pointer(*at, "data_base64"), message))
    elif has_base64:
        data = _base64_data(obj["data_base64"], attrs.get("datacontenttype"), at, data_out)
    elif has_data:
        data = obj["data"]
        # Nesting was bounded when the document was read: data sits one level below the event.
        if not is_json(_str_or_none(attrs.get("datacontenttype"))) and not isinstance(data, str):
            message = "data must be a string when it is not JSON"
            data_out.append(Violation(pointer(*at, "data"), message))
        elif surrogates:
            _check_encodable(data, pointer(*at, "data"), data_out)
    event = _event(attrs, at, out, data)
    out.extend(data_out)
    return None if data_out else event


def _base64_data(value: Any, content_type: Any, at: tuple[int, ...], out: list[Violation]) -> Any:
    here = pointer(*at, "data_base64")
    if not isinstance(value, str):
        out.append(Violation(here, "data_base64 must be a base64 string"))
        return ABSENT
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        out.append(Violation(here, "data_base64 is not valid base64"))
        return ABSENT
    if is_json(_str_or_none(content_type)):
        # JSON sent as bytes is still JSON: hold it as a value, like every other JSON event.
        return _json_data(raw, here, out)
    return raw


# --- attributes ------------------------------------------------------------------------------


def _event(
    attrs: dict[str, Any], at: tuple[int, ...], out: list[Violation], data: Any = ABSENT
) -> CloudEvent | None:
    """The event the attributes describe, or ``None`` with every problem added to ``out``."""
    before = len(out)
    # One scan over all string values; only when it finds something is each one looked at.
    strings = [v for v in attrs.values() if isinstance(v, str)]
    suspect = bool(strings) and (
        max(map(len, strings)) > MAX_ATTRIBUTE_LENGTH or not _plain("".join(strings))
    )
    values: dict[str, str | None] = {}
    for name in _NAMES:
        value = attrs.get(name)
        # The common cases inline; anything else (and every failure) takes the full path.
        if value is None and name not in _REQUIRED:
            values[name] = None
        elif type(value) is str and not suspect and _CHECKS[name](value) is None:
            values[name] = value
        else:
            values[name] = _attribute(name, value, at, out, suspect)
    extensions: dict[str, Extension] = {}
    if not attrs.keys() <= _ATTRIBUTES:
        for name, value in attrs.items():
            if name not in _ATTRIBUTES:
                ext = _extension(name, value, at, out, suspect)
                if ext is not None:
                    extensions[name] = ext
    if len(out) > before:
        return None
    return CloudEvent(
        id=values["id"] or "",
        source=values["source"] or "",
        type=values["type"] or "",
        data=data,
        datacontenttype=values["datacontenttype"],
        dataschema=values["dataschema"],
        subject=values["subject"],
        time=values["time"],
        extensions=extensions,
        specversion=values["specversion"] or SPEC_VERSION,
    )


def _attribute(
    name: str, value: Any, at: tuple[int, ...], out: list[Violation], suspect: bool
) -> str | None:
    if value is None or value is _REPORTED:
        if value is None and name in _REQUIRED:
            out.append(Violation(pointer(*at, name), f"{name} is required"))
        return None
    if not isinstance(value, str):
        out.append(
            Violation(pointer(*at, name), f"{name} must be a string, not {_json_type(value)}")
        )
        return None
    problem = (_string_problem(value) if suspect else None) or _CHECKS[name](value)
    if problem is not None:
        out.append(Violation(pointer(*at, name), problem))
        return None
    return value


def _extension(
    name: str, value: Any, at: tuple[int, ...], out: list[Violation], suspect: bool
) -> Extension | None:
    if value is _REPORTED:
        return None
    problem: str | None = None
    if not _NAME.match(name):
        problem = "an attribute name is 1-20 characters of a-z and 0-9"
    elif isinstance(value, bool):
        return value
    elif isinstance(value, int):
        if _INT_MIN <= value <= _INT_MAX:
            return value
        problem = "an integer attribute must fit in 32 bits"
    elif isinstance(value, str):
        problem = _string_problem(value) if suspect else None
        if problem is None:
            return value
    else:
        problem = f"an extension is a string, integer or boolean, not {_json_type(value)}"
    out.append(Violation(pointer(*at, name), problem))
    return None


def _plain(text: str) -> bool:
    """Whether ``text`` surely holds no character CloudEvents strings forbid (fast, in C)."""
    return (text.isascii() and text.isprintable()) or _BAD_CHARS.search(text) is None


def _string_problem(value: str) -> str | None:
    if len(value) > MAX_ATTRIBUTE_LENGTH:
        return f"longer than {MAX_ATTRIBUTE_LENGTH} characters"
    bad = None if value.isascii() and value.isprintable() else _BAD_CHARS.search(value)
    if bad is not None:
        return f"holds a character not allowed in CloudEvents strings (U+{ord(bad.group()):04X})"
    return None


def _check_specversion(value: str) -> str | None:
    if value == SPEC_VERSION:
        return None
    return f"unsupported specversion {_short(value)}; only {SPEC_VERSION} is accepted"


def _non_empty(name: str) -> Callable[[str], str | None]:
    def check(value: str) -> str | None:
        return None if value else f"{name} must not be empty"

    return check


def _check_source(value: str) -> str | None:
    if not value:
        return "source must not be empty"
    return None if _is_uri(value) else "source must be a URI-reference (RFC 3986)"


def _check_dataschema(value: str) -> str | None:
    ok = _SCHEME.match(value) is not None and _is_uri(value)
    return None if ok else "dataschema must be an absolute URI"


def _is_uri(value: str) -> bool:
    if _URI_CHARS.match(value) is None:
        return False
    return "%" not in value or _LONE_PERCENT.search(value) is None


def _check_content_type(value: str) -> str | None:
    return None if _MEDIA_TYPE.match(value) else "datacontenttype must be a media type"


def _check_time(value: str) -> str | None:
    match = _TIME.match(value)
    if match is not None:
        year, month, day, hour, minute, second, off_h, off_m = match.groups()
        try:
            dt.date(int(year), int(month), int(day))
            ok = int(hour) < 24 and int(minute) < 60 and int(second) <= 60  # 60: leap second
            ok = ok and (off_h is None or (int(off_h) < 24 and int(off_m) < 60))
        except ValueError:
            ok = False
        if ok:
            return None
    return "time must be an RFC 3339 timestamp, like 2024-05-01T12:30:00Z"


_CHECKS = {
    "specversion": _check_specversion,
    "id": _non_empty("id"),
    "source": _check_source,
    "type": _non_empty("type"),
    "datacontenttype": _check_content_type,
    "dataschema": _check_dataschema,
    "subject": _non_empty("subject"),
    "time": _check_time,
}


# --- JSON ------------------------------------------------------------------------------------


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"number {_short(text)} is out of range")
    return number


def _no_constant(text: str) -> Any:
    raise ValueError(f"{text} is not JSON")


# Built once: json.loads with hooks would build a decoder per call.
_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def _load_json(raw: bytes, here: str, out: list[Violation], *, depth: int) -> Any:
    try:
        text = bytes(raw).decode("utf-8-sig")
    except UnicodeDecodeError:
        out.append(Violation(here, "not UTF-8 text"))
        return None
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        out.append(
            Violation(here, f"not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
        )
        return None
    except ValueError as exc:  # an integer too long to convert, a number out of range
        out.append(Violation(here, f"not valid JSON: {_short(str(exc), 120)}"))
        return None
    except RecursionError:
        out.append(Violation(here, _TOO_DEEP))
        return None
    # Deeper nesting needs at least that many brackets: count them in C before walking.
    if raw.count(b"[") + raw.count(b"{") > depth and _too_deep(value, depth):
        out.append(Violation(here, _TOO_DEEP))
        return None
    return value


def _json_data(raw: bytes, here: str, out: list[Violation]) -> Any:
    before = len(out)
    value = _load_json(raw, here, out, depth=MAX_DEPTH)
    if len(out) > before:
        return ABSENT
    if _needs_surrogate_check(raw):
        _check_encodable(value, here, out)
    return value


def _too_deep(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest more than ``limit`` levels (iteratively: no recursion)."""
    level: list[Any] = [value] if isinstance(value, dict | list) else []
    depth = 1
    while level:  # one level of nesting at a time
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            children = node.values() if isinstance(node, dict) else node
            below += [c for c in children if isinstance(c, dict | list)]
        level = below
        depth += 1
    return False


def _needs_surrogate_check(raw: bytes) -> bool:
    return _SURROGATE_ESCAPE.search(raw) is not None


def _check_encodable(value: Any, here: str, out: list[Violation]) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        out.append(Violation(here, "holds an unpaired UTF-16 surrogate, which is not Unicode text"))


# --- helpers ---------------------------------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return None


def _media(content_type: str | None) -> str:
    return (content_type or "").partition(";")[0].strip().lower()


def _header_value(raw: str, attr: str, out: list[Violation]) -> str | None:
    """Undo the HTTP binding's encoding: an optional quoted-string, then one percent-decoding."""
    value = raw.strip(" \t")
    problem = None
    if len(value) > 3 * MAX_ATTRIBUTE_LENGTH + 2:
        problem = f"longer than {MAX_ATTRIBUTE_LENGTH} characters"
    elif not (value.isascii() and value.isprintable()):
        problem = "header values are printable ASCII; percent-encode the rest"
    else:
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = _QUOTED_PAIR.sub(r"\1", value[1:-1])
        try:
            return _percent_decode(value)
        except UnicodeDecodeError:
            problem = "percent-encoded bytes are not valid UTF-8"
    out.append(Violation(pointer(attr), problem))
    return None


def _percent_decode(value: str) -> str:
    # The value is ASCII by now; a '%' not followed by two hex digits stays as it is.
    return value if "%" not in value else unquote_to_bytes(value).decode("utf-8")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _malformed(violations: list[Violation]) -> MalformedEvent:
    if len(violations) > MAX_VIOLATIONS:
        rest = len(violations) - MAX_VIOLATIONS
        violations = [*violations[:MAX_VIOLATIONS], Violation("", f"{rest} more not listed")]
    return MalformedEvent(violations)
