"""Pull requests to a JetStream consumer, with the waiting the bus promises.

nats-py's ``fetch`` keeps waiting for a full batch once the first message is in. ``fetch`` here
returns what is ready at once, and when nothing is, waits for the first message only and then
takes whatever else is ready.

Requests carry ``no_wait`` with ``expires``. The server (2.9 and later) then answers with what it
has at once, or with the first message to arrive before the expiry, ending with a status; a
consumer at its ``max_ack_pending`` gets its 408 at the expiry instead of no answer at all. A
server that ends an empty ``no_wait`` with 404 at once gets a second, waiting request. Each
request has its own inbox, so a late status from one can never end another.
"""

from __future__ import annotations

import asyncio
import json
from typing import Final

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

ACK_PREFIX: Final = "$JS.ACK."
NO_MESSAGES: Final = "404"
EXPIRED: Final = "408"
MIN_WAIT: Final = 0.01  # seconds: a request needs an expiry, even "don't wait"
_HEARTBEAT: Final = "100"


async def fetch(
    nc: Client, stream: str, consumer: str, batch: int, timeout: float, answer_within: float
) -> list[Msg]:
    """Up to ``batch`` messages, waiting up to ``timeout`` s for the first one.

    ``answer_within`` bounds how long the server may take to answer beyond that; past it the
    server counts as unreachable and ``nats.errors.TimeoutError`` is raised.
    """
    subject = f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    got, status = await _request(nc, subject, batch, max(timeout, MIN_WAIT), answer_within)
    remaining = deadline - loop.time()
    if got or status != NO_MESSAGES or remaining < MIN_WAIT:
        return got
    first, _ = await _request(nc, subject, 1, remaining, answer_within, no_wait=False)
    if not first or batch == 1:
        return first
    more, _ = await _request(nc, subject, batch - 1, MIN_WAIT, answer_within)
    return first + more


async def _request(
    nc: Client,
    subject: str,
    batch: int,
    expires: float,
    answer_within: float,
    *,
    no_wait: bool = True,
) -> tuple[list[Msg], str | None]:
    """Messages for one pull request, and the status that ended it (None: a full batch)."""
    body = {"batch": batch, "expires": int(expires * 1_000_000_000), "no_wait": no_wait}
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    try:
        await nc.publish(subject, json.dumps(body).encode(), reply=inbox)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + expires + answer_within
        out: list[Msg] = []
        while len(out) < batch:
            try:
                msg = await sub.next_msg(timeout=max(deadline - loop.time(), 0.001))
            except nats.errors.TimeoutError:
                if out:
                    return out, None
                raise
            if msg.reply and msg.reply.startswith(ACK_PREFIX):
                out.append(msg)
                continue
            headers = msg.headers or {}
            status = headers.get("Status")
            if status == _HEARTBEAT:
                continue
            if status in (NO_MESSAGES, EXPIRED) or out:
                return out, status
            if status == "409" and "deleted" not in headers.get("Description", "").lower():
                return out, status  # at a limit (waiting pulls): nothing to hand out now
            nats.js.errors.APIError.from_msg(msg)  # raises
        return out, None
    finally:
        # Messages the server sends after this go nowhere and come back after ack_wait.
        await sub.unsubscribe()
