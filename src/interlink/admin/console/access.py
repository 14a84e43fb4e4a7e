"""What a signed-in token may see and press: the admin API's permission matrix, unchanged.

A page needs the action of the admin endpoint it reads (``dlq.list`` for the dead letters), a
button the action of the endpoint it stands for (``dlq.retry``), with the same role and Team
scope rules (auth.py), so the console can do nothing its token could not do over the API.
"""

from __future__ import annotations

from fastapi import Request

from interlink.admin.auth import Grant, grant, refusal
from interlink.admin.console.session import Viewer
from interlink.admin.owners import Owned
from interlink.admin.permissions import BY_ACTION


def may(viewer: Viewer, action: str, targets: list[Owned] | None = None) -> bool:
    """Whether ``viewer`` may do ``action`` on ``targets``: shows or hides a link or button."""
    return refusal(viewer.token, BY_ACTION[action], targets or []) is None


async def require(
    request: Request, viewer: Viewer, action: str, targets: list[Owned] | None = None
) -> Grant:
    """The grant of ``viewer`` for ``action`` on ``targets`` (None: found in the request by
    the action's own resolver, as the API finds them); Forbidden (audited on an audited console
    route) otherwise."""
    return await grant(request, BY_ACTION[action], viewer.token, targets)
