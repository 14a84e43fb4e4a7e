"""An estate for several-node tests: one route behind an anonymous Plan whose limit is the
thing that changes between revisions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.unit.gateway.helpers import route, write_estate


def plan_estate(
    root: Path,
    per_minute: int,
    upstream: str = "http://127.0.0.1:9",
    platform: dict[str, Any] | None = None,
) -> Path:
    """The estate at ``root``: route ``/orders`` to ``upstream``, anonymous callers limited to
    ``per_minute`` requests a minute."""
    write_estate(root, {"crm": upstream}, [route("orders", "/orders", "crm")], platform)
    plan = {
        "apiVersion": "interlink/v1",
        "kind": "Plan",
        "metadata": {"name": "anonymous"},
        "spec": {"limits": [{"requests": per_minute, "per": "1m"}]},
    }
    (root / "plans.yaml").write_text(json.dumps(plan) + "\n", encoding="utf-8")
    return root


def policy(per_minute: int) -> str:
    """The RateLimit-Policy header the gateway sends under :func:`plan_estate`'s plan."""
    return f'"{per_minute}-per-1m";q={per_minute};w=60'
