"""Secret and environment references: `${env:NAME}` and `${secret:NAME}`.

The estate never holds a secret. A value that must be secret is written as a reference and
resolved only at run time, at the point of use; everything that displays the estate (logs,
exports, the admin API) shows the reference, never the resolved value.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from interlink.errors import ConfigError

REFERENCE = re.compile(r"\$\{(env|secret):([A-Za-z_][A-Za-z0-9_.-]*)\}")
WHOLE_REFERENCE = re.compile(r"^\$\{(env|secret):([A-Za-z_][A-Za-z0-9_.-]*)\}$")


def is_reference(value: str) -> bool:
    """True when the whole value is a single `${env:…}` or `${secret:…}` reference."""
    return WHOLE_REFERENCE.match(value) is not None


def has_reference(value: str) -> bool:
    return REFERENCE.search(value) is not None


class UnresolvedReference(ConfigError):
    """A `${env:…}` or `${secret:…}` reference has no value in this process."""


#: A lookup in the encrypted secret store: a name's value, or None when the store has none.
StoreLookup = Callable[[str], "str | None"]

_store_lookup: list[StoreLookup] = []  # the process's, set by a running node


def use_secret_store(lookup: StoreLookup | None) -> None:
    """Make ``lookup`` (the encrypted store of the running node) the last place every
    :class:`SecretSource` looks; None stops that."""
    _store_lookup.clear()
    if lookup is not None:
        _store_lookup.append(lookup)


def _process_store() -> StoreLookup | None:
    return _store_lookup[0] if _store_lookup else None


@dataclass(frozen=True)
class SecretSource:
    """Where `${secret:NAME}` values come from at run time, the first that has it winning:

    1. the environment variable ``INTERLINK_SECRET_<NAME>`` (upper-cased, non-alphanumerics
       as ``_``);
    2. the file ``<directory>/<NAME>``, the directory defaulting to ``INTERLINK_SECRETS_DIR``;
    3. the encrypted secret store (``interlink secrets set``), when the process runs a node.

    What the process itself is given wins over what is shared by every node: an override for
    one node, a test or an emergency needs no change to the store.
    """

    directory: Path | None = None
    environ: Mapping[str, str] | None = None
    store: StoreLookup | None = None  # the process's (use_secret_store) unless given

    def _env(self) -> Mapping[str, str]:
        return os.environ if self.environ is None else self.environ

    def secret(self, name: str) -> str:
        env = self._env()
        key = "INTERLINK_SECRET_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()
        if key in env:
            return env[key]
        directory = self.directory or (
            Path(env["INTERLINK_SECRETS_DIR"]) if env.get("INTERLINK_SECRETS_DIR") else None
        )
        if directory is not None:
            path = directory / name
            if path.is_file():
                return path.read_text(encoding="utf-8").rstrip("\n")
        lookup = self.store or _process_store()  # read now: the node may set it after this
        stored = lookup(name) if lookup is not None else None
        if stored is not None:
            return stored
        raise UnresolvedReference(
            f"secret '{name}' is not set (set {key}, a file in the secrets dir or "
            f"`interlink secrets set {name}`)"
        )

    def env(self, name: str) -> str:
        env = self._env()
        if name not in env:
            raise UnresolvedReference(f"environment variable {name} is not set")
        return env[name]


def resolve(value: str, source: SecretSource | None = None) -> str:
    """Replace every reference in ``value`` by its run-time value."""
    src = source or SecretSource()

    def sub(match: re.Match[str]) -> str:
        kind, name = match.group(1), match.group(2)
        return src.env(name) if kind == "env" else src.secret(name)

    return REFERENCE.sub(sub, value)


_SENSITIVE_KEY = re.compile(r"(secret|token|password|credential|apikey|api_key|private)", re.I)
REDACTED = "***"


def redact(data: object, key: str = "") -> object:
    """A copy of ``data`` safe to show: references stay, anything else under a sensitive key
    (secret, token, password, credentials…) is masked. The models already refuse literal
    secrets; this keeps a future field from leaking one by mistake."""
    if isinstance(data, dict):
        return {k: redact(v, str(k)) for k, v in data.items()}
    if isinstance(data, list):
        return [redact(v, key) for v in data]
    if isinstance(data, str) and _SENSITIVE_KEY.search(key) and not is_reference(data):
        return REDACTED
    return data
