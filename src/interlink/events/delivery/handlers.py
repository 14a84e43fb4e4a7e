"""In-process handlers: Python callables a subscription delivers to instead of a webhook.

A handler is registered under the ``interlink.handlers`` entry-point group of an installed
distribution, for example in its ``pyproject.toml``::

    [project.entry-points."interlink.handlers"]
    audit-log = "mypackage.audit:handle"

and named by ``target.handler: audit-log``. It receives the CloudEvent as the structured-mode
dict and may be a plain or an ``async`` function. Returning is success; raising is a failed
attempt, retried on the subscription's schedule like a failed webhook. A plain function runs in
a worker thread so it cannot stall other deliveries; if it outlives the subscription's timeout
the attempt counts as failed, though the thread itself cannot be stopped.
"""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import Callable
from importlib.metadata import entry_points
from typing import Any, Final

from interlink.errors import ConfigError
from interlink.events.delivery.attempt import Attempt
from interlink.events.delivery.queue import Job

GROUP: Final = "interlink.handlers"

Handler = Callable[[dict[str, Any]], Any]


def load_handler(name: str) -> Handler:
    """The callable registered as ``name``; ``ConfigError`` when none is or it fails to load."""
    found = list(entry_points(group=GROUP, name=name))
    if not found:
        known = sorted({ep.name for ep in entry_points(group=GROUP)})
        hint = f" (registered: {', '.join(known)})" if known else ""
        raise ConfigError(f"no handler {name!r} is registered under {GROUP}{hint}")
    try:
        handler = found[0].load()
    except Exception as exc:
        raise ConfigError(f"handler {name!r} ({found[0].value}) failed to load: {exc}") from exc
    if not callable(handler):
        raise ConfigError(f"handler {name!r} ({found[0].value}) is not callable")
    return handler  # type: ignore[no-any-return]


class HandlerSender:
    """Calls a handler with each job's event."""

    needs_trace_context = True

    def __init__(self, name: str, handler: Handler, timeout: float) -> None:
        self.name = name
        self.handler = handler
        self.timeout = timeout
        # An object whose __call__ is async counts too.
        call = getattr(type(handler), "__call__", None)  # noqa: B004 - not a callable test
        self._is_async = inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(call)

    async def send(self, job: Job) -> Attempt:
        try:
            event = json.loads(job.body)
        except ValueError as exc:
            return Attempt(False, error=f"the stored event is not JSON: {exc}")
        try:
            async with asyncio.timeout(self.timeout):
                if self._is_async:
                    result = await self.handler(event)
                else:
                    result = await asyncio.to_thread(self.handler, event)
                if inspect.isawaitable(result):
                    await result
        except TimeoutError:
            return Attempt(False, error=f"handler {self.name} took longer than {self.timeout:g}s")
        except Exception as exc:  # any exception is a failed attempt, by contract
            text = " ".join(str(exc).split())
            error = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
            return Attempt(False, error=error[:1000])
        return Attempt(True)

    async def aclose(self) -> None:
        return None
