"""Which of a route's upstreams answers a request: a weighted split, sticky per client.

Each primary (non-shadow) upstream gets a share of the requests proportional to its
``weight``. With ``sticky: true`` (the default) the choice is a pure function of the client:
its Consumer name once authentication named one, else its IP address. The key is hashed to a
stable 64-bit number (BLAKE2b), scaled onto the total weight and looked up in the upstreams'
cumulative weights, in the order the route lists them. So one client always reaches the same
upstream while the weights stay the same, clients spread uniformly, and moving weight from one
upstream to the next listed one (90/10 → 80/20) only moves clients from the first to the
second, never back. With ``sticky: false`` every request is drawn at random by weight.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Callable, Sequence
from hashlib import blake2b
from itertools import accumulate

from interlink.gateway.config import CompiledRoute
from interlink.gateway.request import Request
from interlink.gateway.upstream import UpstreamTarget


def sticky_key(request: Request) -> str:
    """What a sticky choice follows: the Consumer when known, else the client's address."""
    consumer = request.consumer
    return f"consumer:{consumer}" if consumer else f"ip:{request.client}"


def stable_hash(key: str) -> int:
    """A 64-bit hash of ``key``, the same in every process and on every run."""
    return int.from_bytes(blake2b(key.encode("utf-8"), digest_size=8).digest(), "big")


def pick(targets: Sequence[UpstreamTarget], point: int) -> UpstreamTarget:
    """The target whose share of the total weight holds ``point`` (a 64-bit number)."""
    bounds = list(accumulate(t.weight for t in targets))
    total = bounds[-1]
    return targets[bisect_right(bounds, (point * total) >> 64)]


def choose_upstream(
    route: CompiledRoute,
    request: Request,
    rand: Callable[[], float] = random.random,
) -> UpstreamTarget:
    primary = route.primary
    if len(primary) == 1:
        return primary[0]
    if route.route.spec.sticky:
        point = stable_hash(sticky_key(request))
    else:
        point = min(int(rand() * 2.0**64), 2**64 - 1)
    return pick(primary, point)
