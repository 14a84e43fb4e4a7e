"""JSONata behind one facade: compile once, evaluate many times, one error type.

Subscription filters, `check` and flows' mappings, filters and conditions all go through
:func:`compile_expression`. Two engines can stand behind it: ``jsonatapy`` (Rust, the optional
``fast`` extra) when it is installed, else ``jsonata-python``, which is always there. Both take
the same expressions and give the same results on all but a few corner cases (the official
suite's known failures are listed in tests/unit/test_jsonata_suite.py). ``INTERLINK_JSONATA_ENGINE``
(``jsonatapy`` or ``jsonata-python``) chooses one instead, for a process and its children.

A syntax error reads the same with either engine: jsonatapy does not say where in the expression
it is, so when jsonata-python's parser finds the same error, its message (with the position) is
the one given.

Every evaluation is guarded: it stops with ``D1012`` past a time limit and with ``D1011`` past
a depth of nested evaluation, so a runaway expression (an infinite recursion in a mapping)
fails one message instead of holding a worker forever. The guard is checked between evaluation
steps, so one slow built-in call (a huge ``$range``) finishes before it is noticed.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from interlink.errors import ExpressionError

Engine = Literal["jsonatapy", "jsonata-python"]

#: Seconds an evaluation may take, and how deeply it may nest (recursion included).
DEFAULT_TIMEOUT = 1.0
DEFAULT_MAX_DEPTH = 500


#: Names the engine :func:`compile_expression` uses when the caller names none.
ENGINE_ENV = "INTERLINK_JSONATA_ENGINE"


def available_engines() -> list[Engine]:
    """The engines installed here, the preferred (faster) one first."""
    return list(_installed())


@functools.cache
def _installed() -> tuple[Engine, ...]:
    if importlib.util.find_spec("jsonatapy") is not None:
        return ("jsonatapy", "jsonata-python")
    return ("jsonata-python",)


#: The preferred engine installed here.
DEFAULT_ENGINE: Engine = available_engines()[0]


def default_engine() -> Engine:
    """The engine used when none is named: ``INTERLINK_JSONATA_ENGINE``'s, else the preferred.

    Read at each compile, so a test can set it; an engine that is not installed is an error,
    not a silent fallback, so a run that asks for one engine never tests the other."""
    wanted = os.environ.get(ENGINE_ENV, "").strip()
    if not wanted:
        return DEFAULT_ENGINE
    for engine in _installed():
        if engine == wanted:
            return engine
    if wanted in ("jsonatapy", "jsonata-python"):
        reason = "is not installed (pip install 'interlink[fast]')"
    else:
        reason = "is not a JSONata engine"
    raise ExpressionError(f"{ENGINE_ENV}={wanted} {reason}; installed: {', '.join(_installed())}")


#: An engine's compiled expression: (data, bindings, timeout in ms, max depth) -> result.
Evaluator = Callable[[Any, Mapping[str, Any], int | None, int | None], Any]


class Expression:
    """A compiled JSONata expression; :meth:`evaluate` is safe to call from any thread."""

    def __init__(
        self,
        source: str,
        compiled: Evaluator,
        engine: Engine,
        timeout: float | None,
        max_depth: int | None,
    ) -> None:
        self.source = source
        self.engine = engine
        self.timeout = timeout
        self.max_depth = max_depth
        self._compiled = compiled

    def __repr__(self) -> str:
        return f"Expression({self.source!r}, engine={self.engine!r})"

    def evaluate(self, data: Any, bindings: Mapping[str, Any] | None = None) -> Any:
        """The result for ``data`` (None when JSONata's is undefined or null).

        ``bindings`` are variables without their ``$`` (``{"now": ...}`` is ``$now``). Any
        failure, the guard's included, is an :class:`ExpressionError`."""
        timeout_ms = None if self.timeout is None else max(1, round(self.timeout * 1000))
        try:
            return self._compiled(data, bindings or {}, timeout_ms, self.max_depth)
        except ExpressionError:
            raise
        except RecursionError:
            raise ExpressionError(
                "JSONata D1011: the expression nests too deeply (a non-terminating recursion?)",
                code="D1011",
            ) from None
        except Exception as exc:  # the engines raise several types; all mean the same here
            raise _error(exc, self.source) from None


def compile_expression(
    source: str,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    max_depth: int | None = DEFAULT_MAX_DEPTH,
    engine: Engine | None = None,
) -> Expression:
    """Parse ``source`` once; :class:`ExpressionError` when it does not compile.

    ``timeout`` (seconds) and ``max_depth`` bound each evaluation; None lifts a bound."""
    chosen = engine or default_engine()
    try:
        compiled = _jsonatapy(source) if chosen == "jsonatapy" else _jsonata_python(source)
    except ExpressionError:
        raise
    except RecursionError:
        raise ExpressionError(
            "JSONata: the expression nests too deeply to parse", code="S0101"
        ) from None
    except Exception as exc:  # the parsers raise several types for a bad expression
        error = _error(exc, source)
        if chosen == "jsonatapy":
            error = _located(error, source)
        raise error from None
    return Expression(source, compiled, chosen, timeout, max_depth)


def _located(error: ExpressionError, source: str) -> ExpressionError:
    """jsonatapy's syntax error, said as jsonata-python says it (with the position, tokens as
    written) when that parser finds the same error; else jsonatapy's own."""
    if error.position is not None:
        return error
    import jsonata  # type: ignore[import-untyped]

    try:
        jsonata.Jsonata(source)
    except RecursionError:
        return error
    except Exception as exc:  # the parser raises several types for a bad expression
        other = _error(exc, source)
        return other if other.code == error.code else error
    return error


def truthy(value: Any) -> bool:
    """JSONata's ``$boolean``: an array is true when any member is, an empty one is false."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str | int | float):
        return bool(value)
    if isinstance(value, list):
        return any(truthy(v) for v in value)
    if isinstance(value, dict):
        return bool(value)
    return False


@dataclass(frozen=True)
class Shape:
    """What can be told, without evaluating, of a value an expression builds.

    ``type`` is its JSON type when the expression fixes it (a literal, an object or array
    constructor, ``&``, arithmetic, a comparison, a built-in such as ``$string``), else None;
    ``value`` is the literal itself when ``literal``; ``fields`` an object constructor's, when
    its keys are literal strings."""

    type: str | None
    literal: bool = False
    value: Any = None
    fields: Mapping[str, Shape] | None = None


def constructed_object(source: str) -> Mapping[str, Shape] | None:
    """The fields of the object ``source`` builds, when that can be told without evaluating it.

    It can when the expression is an object constructor (``{"a": …, "b": …}``), alone or last
    in a block, with literal string keys; otherwise (or when it does not compile) None. Read
    with jsonata-python's parser, which is always installed, whichever engine evaluates."""
    import jsonata

    try:
        node = jsonata.Jsonata(source).ast
    except Exception:  # not compiling is reported elsewhere; here it is "cannot tell"
        return None
    # A block may bind a name such as $string to a function of its own: then a call to it
    # says nothing of its result.
    builtins = node.type != "block"
    while node.type == "block" and node.expressions:
        node = node.expressions[-1]
    return _shape(node, builtins).fields


def constructed_keys(source: str) -> frozenset[str] | None:
    """The keys of the object ``source`` builds, when :func:`constructed_object` can tell."""
    fields = constructed_object(source)
    return None if fields is None else frozenset(fields)


#: Operators and built-in functions whose result, when there is one, has one JSON type.
_OPERATOR_TYPES = {
    "&": "string",
    **dict.fromkeys(("+", "-", "*", "/", "%"), "number"),
    **dict.fromkeys(("=", "!=", "<", ">", "<=", ">=", "in", "and", "or"), "boolean"),
}
_FUNCTION_TYPES = {
    **dict.fromkeys(
        ("string", "uppercase", "lowercase", "trim", "substring", "join", "now", "base64encode"),
        "string",
    ),
    **dict.fromkeys(
        ("number", "sum", "count", "length", "millis", "round", "floor", "ceil", "abs"), "number"
    ),
    **dict.fromkeys(("boolean", "not", "exists"), "boolean"),
}


def _shape(node: Any, builtins: bool) -> Shape:
    kind, value = node.type, node.value
    if kind in ("string", "number"):
        return Shape(kind, literal=True, value=value)
    if kind == "value" and (value is None or isinstance(value, bool)):
        return Shape("null" if value is None else "boolean", literal=True, value=value)
    if kind == "unary" and value == "{":
        pairs = node.lhs_object or []
        if not all(key.type == "string" and isinstance(key.value, str) for key, _ in pairs):
            return Shape("object")
        return Shape("object", fields={key.value: _shape(v, builtins) for key, v in pairs})
    if kind == "unary":
        return Shape({"[": "array", "-": "number"}.get(value))
    if kind == "binary":
        return Shape(_OPERATOR_TYPES.get(value))
    procedure = getattr(node, "procedure", None)
    if kind == "function" and builtins and procedure is not None and procedure.type == "variable":
        return Shape(_FUNCTION_TYPES.get(procedure.value))
    return Shape(None)


_CODE = re.compile(r"\b([STDU]\d{4})\b")


def _error(exc: BaseException, source: str) -> ExpressionError:
    """One readable line: the code, where in the expression, and the engine's message."""
    code = getattr(exc, "error", None)
    text = str(exc) or type(exc).__name__
    if not isinstance(code, str):
        found = _CODE.search(text)
        code = found.group(1) if found else None
    # jsonatapy puts "Parse error: S0207: " before its message; keep only the message.
    if code:
        text = text.split(f"{code}: ", 1)[-1]
    location = getattr(exc, "location", None)
    position = location if isinstance(location, int) and location > 0 else None
    where = f" {_where(source, position)}" if position is not None else ""
    label = f"JSONata {code}" if code else "JSONata"
    message = " ".join(f"{label}{where}: {text}".split())
    return ExpressionError(message, code=code, position=position)


def _where(source: str, position: int) -> str:
    """``at position 7``; ``at line 2, column 5`` in an expression of several lines."""
    before = source[: position - 1] if position <= len(source) + 1 else source
    if "\n" not in source:
        return f"at position {position}"
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return f"at line {line}, column {column}"


def _jsonata_python(source: str) -> Evaluator:
    # Imported here: a process whose estate has no expression never loads the parser.
    import jsonata
    from jsonata.jsonata import Jsonata  # type: ignore[import-untyped]

    compiled = jsonata.Jsonata(source)

    def evaluate(
        data: Any, bindings: Mapping[str, Any], timeout_ms: int | None, max_depth: int | None
    ) -> Any:
        # The library's own guard starts its clock when the expression is compiled, so a fresh
        # one rides in each evaluation's bindings frame instead (the library copies a frame's
        # entries, its guard's hooks included, into the evaluation's scope).
        frame = Jsonata.Frame(None)
        if timeout_ms is not None or max_depth is not None:
            frame.set_runtime_bounds(timeout_ms, max_depth)
        for name, value in bindings.items():
            frame.bind(name, value)
        # $now, $millis and higher-order built-ins read the thread's "current" expression, which
        # compiling another expression replaces: point it back at this one.
        Jsonata.CURRENT.jsonata = compiled
        return compiled.evaluate(data, frame)

    return evaluate


#: jsonatapy's compiled expressions belong to the thread that compiled them (using or even
#: dropping one on another thread is a panic in the Rust core), and an Expression is shared by
#: the event loop, the store's worker threads and the gateway's threads. So each thread keeps
#: its own compiled copies, bounded, and evicts them itself.
_THREAD_COPIES = 1024
_per_thread = threading.local()


def _thread_copy(source: str) -> Any:
    import jsonatapy

    copies: dict[str, Any] | None = getattr(_per_thread, "copies", None)
    if copies is None:
        copies = _per_thread.copies = {}
    compiled = copies.pop(source, None)
    if compiled is None:
        compiled = jsonatapy.compile(source)
        if len(copies) >= _THREAD_COPIES:
            del copies[next(iter(copies))]  # the least recently used
    copies[source] = compiled  # last: the most recently used
    return compiled


def _jsonatapy(source: str) -> Evaluator:
    _thread_copy(source)  # compiled here first, so a syntax error is raised now

    def evaluate(
        data: Any, bindings: Mapping[str, Any], timeout_ms: int | None, max_depth: int | None
    ) -> Any:
        return _thread_copy(source).evaluate(
            data, dict(bindings), timeout=timeout_ms, max_stack_depth=max_depth
        )

    return evaluate
