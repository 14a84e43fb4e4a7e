"""A flow's HTTP call to a System: the URL, the credential, the idempotency key, the answer.

The URL is the System's base URL joined with the step's path, its ``{field}`` placeholders
filled from the message (``/customers/{customer}``), under the same rules as webhook
deliveries (a path cannot leave the base URL). The System's credentials ride on the call.
``Idempotency-Key`` is ``<run id>:<step name>`` (a compensation's ends in ``:compensate``),
the same on every retry and after a restart, so the System can tell a repeat from a new call.
A 2xx answer's JSON body is the step's output (None when it is empty); a 4xx fails the step at
once; a 5xx, a 429 or a network failure is retried under the step's policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from interlink.errors import ConfigError, UpstreamError
from interlink.estate.kinds.contracts import Api
from interlink.estate.kinds.organisation import System
from interlink.estate.model import Estate
from interlink.estate.references import SecretSource, resolve
from interlink.events.delivery.webhook import webhook_url
from interlink.flows.payloads import MIB, size
from interlink.flows.retry import StepFailed, retryable_status
from interlink.http.client import HttpClient
from interlink.http.credential import Credential, compile_credential

IDEMPOTENCY_HEADER = "Idempotency-Key"
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_-]*)\}")


def expand_path(path: str, message: Any) -> str:
    """``path`` with each ``{field}`` replaced by that field of the message, percent-encoded
    (a ``/`` in it too, so a value stays one segment)."""

    def field(match: re.Match[str]) -> str:
        name = match.group(1)
        value = message.get(name) if isinstance(message, dict) else None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise StepFailed(
                f"the path {path} needs the message's {name!r}, a string or a number",
                retryable=False,
            )
        return quote(str(value), safe="")

    return _PLACEHOLDER.sub(field, path)


@dataclass(frozen=True)
class Target:
    """Where a System's calls go: its base URL and its credential."""

    base_url: str
    credential: Credential | None


def system_targets(estate: Estate, secrets: SecretSource | None = None) -> Callable[[str], Target]:
    """A lookup of the estate's Systems; a System without a base URL, or unknown, is a
    ConfigError naming it."""

    def target(name: str) -> Target:
        item = estate.get("System", name)
        if item is None or not isinstance(item.obj, System):
            raise ConfigError(f"no System {name!r} in the estate")
        system = item.obj
        if system.spec.base_url is None:
            raise ConfigError(f"System/{name} has no baseUrl for a flow to call")
        credential = None
        if system.spec.credentials is not None:
            credential = compile_credential(system.spec.credentials, name, secrets)
        return Target(resolve(system.spec.base_url, secrets), credential)

    return target


def api_targets(estate: Estate, secrets: SecretSource | None = None) -> Callable[[str], Target]:
    """A lookup of the estate's Apis: where an Api's calls go is its System's base URL, with
    that System's credentials."""
    systems = system_targets(estate, secrets)

    def target(name: str) -> Target:
        item = estate.get("Api", name)
        if item is None or not isinstance(item.obj, Api):
            raise ConfigError(f"no Api {name!r} in the estate")
        return systems(item.obj.spec.system)

    return target


async def call(
    client: HttpClient,
    target: Target,
    method: str,
    path: str,
    body: Any,
    key: str,
    limit: int = 16 * MIB,
) -> Any:
    """Send one call; its JSON answer, or StepFailed saying whether to retry. An answer over
    ``limit`` bytes (the largest output a step may have) is not read further."""
    try:
        url = webhook_url(target.base_url, path)
    except ValueError as exc:
        raise StepFailed(f"cannot call {path}: {exc}", retryable=False) from None
    headers = [(IDEMPOTENCY_HEADER, key), ("accept", "application/json")]
    payload = None
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        headers.append(("content-type", "application/json"))
    if target.credential is not None:
        url = target.credential.url(url)
        pair = target.credential.header_text()
        if pair is not None:
            headers.append(pair)
    try:
        async with await client.request(method, url, headers, payload) as response:
            status = response.status
            parts: list[bytes] = []
            length = 0
            async for chunk in response.body:
                length += len(chunk)
                if length > limit:
                    raise StepFailed(
                        f"{method} {path} answered more than {size(limit)}, the limit of a "
                        "step's output",
                        retryable=False,
                    )
                parts.append(chunk)
            answer = b"".join(parts)
    except UpstreamError as exc:
        raise StepFailed(f"{method} {path}: {exc.message}", retryable=True) from None
    if not 200 <= status < 300:
        raise StepFailed(
            f"{method} {path} answered {status}", retryable=retryable_status(status), status=status
        )
    if not answer.strip():
        return None
    try:
        return json.loads(answer)
    except ValueError:
        raise StepFailed(
            f"{method} {path} answered {status} with a body that is not JSON", retryable=False
        ) from None
