"""Large payloads of flow runs stored apart (``flow_payloads``), by reference.

A run's input, a step's output and the entries of a run's context (its message and each step's
output) are kept inline as JSON while small. One larger than ``inline`` bytes is stored once per
run under its SHA-256, and what is kept inline in its place is a reference::

    {"$payload": "<sha256 hex>", "bytes": 1234567}

so the run history lists it by size instead of carrying megabytes in every row, and a context
that references the same output at every later step writes it only once. The engine loads the
references back when it resumes a run (:meth:`Payloads.resolve_run`); the admin API and the CLI
show them as they are unless asked for the whole payload. Payloads go with their run when the
retention purge deletes it (``retention.py``).

Small payloads take the fast path: one length check of the JSON that is written anyway. A large
one is turned into JSON once (:func:`dump` remembers the JSON of the last few large values by
identity): a run's input is its first context's message, and stays the message of every
checkpoint until a step changes it, so a run copying ten thousand rows would otherwise encode
them again at each checkpoint. The engine never changes a value in place (each step makes new
ones), which is what makes identity a safe key. A payload read back is remembered with the JSON
it was stored as, and a payload its input and context share is read and decoded once; the last
few payloads stored or read are kept by run and digest, so a run recorded here and run at once
does not read its input back from the store.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from interlink.errors import InterlinkError, NotFound
from interlink.estate.model import Estate
from interlink.store.database import Database, Session

if TYPE_CHECKING:
    from interlink.flows.runs import FlowRun

KIB: Final = 1024
MIB: Final = 1024 * KIB
#: The key that marks a reference to a stored payload.
REF: Final = "$payload"

#: An entry shorter than this stays inline: its reference would be about as long.
_WORTH: Final = 256
_HAS: Final = "SELECT 1 FROM flow_payloads WHERE run_id = ? AND digest = ?"
_PUT: Final = (
    "INSERT INTO flow_payloads (run_id, digest, bytes, body, created_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (run_id, digest) DO NOTHING"
)
_GET: Final = "SELECT body FROM flow_payloads WHERE run_id = ? AND digest = ?"


@dataclass(frozen=True)
class PayloadLimits:
    """The Platform's ``flows.inlinePayloadBytes`` and ``flows.maxPayloadBytes``."""

    inline: int = 64 * KIB
    maximum: int = 16 * MIB


def limits_of(estate: Estate) -> PayloadLimits:
    settings = estate.platform.spec.flows
    return PayloadLimits(settings.inline_payload_bytes, settings.max_payload_bytes)


class PayloadTooLarge(InterlinkError):
    """A run's input over the largest a run may start with (``size`` bytes as JSON)."""

    status = 413
    title = "Payload too large"

    def __init__(self, message: str, size: int) -> None:
        super().__init__(message)
        self.size = size


#: Values whose JSON is at least this long are remembered, the last :data:`_REMEMBERED` of them.
_LARGE: Final = 64 * KIB
_REMEMBERED: Final = 8
# (the value, kept alive so its id is not reused; its JSON), by id; oldest first.
_dumped: dict[int, tuple[Any, str]] = {}
_dumped_lock = threading.Lock()


#: What ``json.dumps(value, separators=(",", ":"), allow_nan=False)`` uses, made once.
_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


def dump(value: Any) -> str:
    """``value`` as compact JSON (NaN refused); a large container's JSON is remembered."""
    if not isinstance(value, dict | list):
        return _ENCODER.encode(value)
    key = id(value)
    found = _dumped.get(key)
    if found is not None and found[0] is value:
        return found[1]
    text = _ENCODER.encode(value)
    _remember(value, text)
    return text


def _remember(value: Any, text: str) -> None:
    """Keep ``text`` as the JSON of ``value`` when it is large."""
    if len(text) >= _LARGE and isinstance(value, dict | list):
        with _dumped_lock:
            _dumped[id(value)] = (value, text)
            while len(_dumped) > _REMEMBERED:
                del _dumped[next(iter(_dumped))]


# The last few large payloads stored or read, by (run id, digest): a run recorded here and run
# at once reads its input back from memory, neither fetched nor decoded again.
_stored: dict[tuple[str, str], Any] = {}


def _keep(run_id: str, digest: str, value: Any) -> None:
    with _dumped_lock:
        _stored[run_id, digest] = value
        while len(_stored) > _REMEMBERED:
            del _stored[next(iter(_stored))]


def size(count: int) -> str:
    """A byte count as people read it: ``512 bytes``, ``64 KiB``, ``3.2 MiB``."""
    if count < KIB:
        return f"{count} bytes"
    if count < MIB:
        return f"{count / KIB:.3g} KiB"
    return f"{count / MIB:.3g} MiB"


def over(what: str, count: int, limit: int) -> str:
    """The error for a payload over the limit, e.g. ``output of step X is 20 MiB, over...``."""
    return f"{what} is {size(count)}, over the {size(limit)} limit"


def omitted(count: int) -> dict[str, Any]:
    """What a run keeps of an input too large to keep: its size, and no digest."""
    return {REF: None, "bytes": count}


def is_omitted(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 2 and REF in value and value[REF] is None


def is_ref(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 2
        and isinstance(value.get(REF), str)
        and isinstance(value.get("bytes"), int)
    )


class Payloads:
    """Writes and reads the payloads of runs, in the caller's session (so a payload commits
    with the checkpoint that references it)."""

    def __init__(self, db: Database, limits: Callable[[], PayloadLimits] | None = None) -> None:
        self._db = db
        self._limits = limits or PayloadLimits

    @property
    def limits(self) -> PayloadLimits:
        return self._limits()

    # --- writing -----------------------------------------------------------------------------

    def value(self, session: Session, run_id: str, value: Any, text: str | None = None) -> str:
        """The JSON to keep inline for ``value``: itself, or a reference when it is large.
        ``text``: ``value``'s JSON when the caller has it already."""
        if text is None:
            text = dump(value)
        if len(text) <= self.limits.inline:
            return text
        return dump(self._put(session, run_id, text, value))

    def context(
        self,
        session: Session,
        run_id: str,
        context: dict[str, Any],
        message_text: str | None = None,
    ) -> str:
        """The JSON to keep inline for a run's context: its largest entries (the message, step
        outputs) become references until the rest is small. ``message_text``: the message's
        JSON when the caller has it already."""
        inline = self.limits.inline
        steps = dict(context.get("steps", {}))
        text = dump(context.get("message")) if message_text is None else message_text
        entries: list[tuple[int, str | None, str]] = [(len(text), None, text)]
        entries += [(len(body), name, body) for name, body in _step_texts(steps)]
        # At most the context's length, from its entries' (a message already encoded is not
        # encoded again); the whole is encoded when that may fit.
        rest = {k: v for k, v in context.items() if k not in ("message", "steps")}
        total = len(dump(rest)) if rest else 2
        total += sum(length + len(name or "") + 2 for length, name, _ in entries)
        if total <= inline:
            text = _joined(context, entries)
            if len(text) <= inline:
                return text
            total = len(text)
        message = context.get("message")
        for length, name, body in sorted(entries, key=lambda e: e[0], reverse=True):
            if total <= inline or length < _WORTH:
                break
            ref = self._put(session, run_id, body, message if name is None else steps[name])
            total -= length - len(dump(ref))
            if name is None:
                message = ref
            else:
                steps[name] = ref
        return dump({**context, "message": message, "steps": steps})

    def _put(self, session: Session, run_id: str, body: str, value: Any) -> dict[str, Any]:
        digest = hashlib.sha256(body.encode()).hexdigest()
        _keep(run_id, digest, value)
        # Looked up first: a context references the same payload at every later checkpoint,
        # and a lookup is cheaper than sending megabytes again to be ignored.
        if session.fetchone(_HAS, (run_id, digest)) is None:
            now = self._db.ts(self._db.now())
            session.execute(_PUT, (run_id, digest, len(body), body, now))
        return {REF: digest, "bytes": len(body)}

    # --- reading -----------------------------------------------------------------------------

    def get(self, session: Session, run_id: str, digest: str, *, kept: bool = False) -> Any:
        """A stored payload; with ``kept``, one stored or read here lately is taken from
        memory (the engine resuming a run; not the history, which must see a purge)."""
        found = _stored.get((run_id, digest), _stored) if kept else _stored
        if found is not _stored:
            return found
        row = session.fetchone(_GET, (run_id, digest))
        if row is None:
            raise NotFound(f"flow run {run_id} has no stored payload {digest}")
        value = json.loads(row[0])
        _remember(value, row[0])  # what dump() gave, so the next checkpoint encodes it not again
        _keep(run_id, digest, value)
        return value

    def load(self, session: Session, run_id: str, value: Any) -> Any:
        """``value`` with a reference replaced by what it references."""
        return self.get(session, run_id, value[REF]) if is_ref(value) else value

    def loaded(self, run_id: str, values: list[Any]) -> list[Any]:
        """``values`` of run ``run_id`` with their references loaded, in a session of its own
        (``show`` asked for the whole payloads)."""
        with self._db.session() as session:
            return [self.load(session, run_id, value) for value in values]

    def fetch(self, run_id: str, digest: str) -> Any:
        """One stored payload of run ``run_id``; NotFound when it has none by that digest."""
        with self._db.session() as session:
            return self.get(session, run_id, digest)

    def resolve_run(self, session: Session, run: FlowRun) -> FlowRun:
        """``run`` with its input and context loaded whole (as the engine needs them)."""
        if not has_refs(run):
            return run
        loaded: dict[str, Any] = {}  # by digest: what the input and context share, read once

        def load(value: Any) -> Any:
            if not is_ref(value):
                return value
            digest = value[REF]
            if digest not in loaded:
                loaded[digest] = self.get(session, run.id, digest, kept=True)
            return loaded[digest]

        context = dict(run.context)
        context["message"] = load(context.get("message"))
        steps = context.get("steps", {})
        context["steps"] = {name: load(out) for name, out in steps.items()}
        return dataclasses.replace(run, input=load(run.input), context=context)


def has_refs(run: FlowRun) -> bool:
    """Whether any of what the engine reads of ``run`` is stored apart (no store access)."""
    context = run.context
    return (
        is_ref(run.input)
        or is_ref(context.get("message"))
        or any(is_ref(out) for out in context.get("steps", {}).values())
    )


def _joined(context: dict[str, Any], entries: list[tuple[int, str | None, str]]) -> str:
    """The JSON of ``context`` from its entries' JSON (``message``, then each step's output),
    not encoded again."""
    message = entries[0][2]
    steps = ",".join(f"{_name(name)}:{body}" for _, name, body in entries[1:])
    parts = []
    for key, value in context.items():
        if key == "message":
            body = message
        elif key == "steps":
            body = "{" + steps + "}"
        else:
            body = dump(value)
        parts.append(f"{_name(key)}:{body}")
    return "{" + ",".join(parts) + "}"


#: Names (context keys, step names) as JSON strings; a flow has few.
_names: dict[str | None, str] = {}


def _name(name: str | None) -> str:
    text = _names.get(name)
    if text is None:
        if len(_names) >= 4096:
            _names.clear()
        text = _names[name] = json.dumps(name)
    return text


def _step_texts(steps: dict[str, Any]) -> list[tuple[str, str]]:
    return [(name, dump(out)) for name, out in steps.items()]
