"""A data-plane node's client of the control plane's admin API: the current revision, its
estate bundle, and the node's status report."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import httpx

from interlink.errors import AuthError, InterlinkError, StoreError
from interlink.store import Revision

# Seconds a request may take beyond the time the control plane is asked to hold it.
REQUEST_TIMEOUT: Final = 10.0


class ControlPlaneUnreachable(StoreError):
    """The control plane cannot be reached, or cannot answer now (a 5xx): try again later."""


class ControlPlane:
    """The admin API at ``url``, called with a ``dataplane`` token. Each call raises
    ``ControlPlaneUnreachable`` when the control plane is away, ``AuthError`` when it refuses
    the token, and ``InterlinkError`` for any other refusal."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url.rstrip("/")
        self._headers = {"authorization": f"Bearer {token}"}
        self._client: httpx.AsyncClient | None = None

    async def current(self, after: int = 0, wait: float = 0.0) -> Revision | None:
        """The current revision once it is newer than ``after``, waiting up to ``wait`` seconds
        for one; None when none is."""
        response = await self._call(
            "GET",
            "/api/v1/estate/revisions/current",
            params={"after": after, "wait": wait},
            timeout=wait + REQUEST_TIMEOUT,
        )
        if response.status_code == 204:
            return None
        body = response.json()
        try:
            return Revision(
                id=int(body["id"]),
                hash=str(body["hash"]),
                applied_at=datetime.fromisoformat(body["applied_at"]),
                applied_by=str(body["applied_by"]),
                source=str(body["source"]),
                summary=dict(body["summary"]),
                object_hashes={str(k): str(v) for k, v in body["object_hashes"].items()},
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InterlinkError(
                f"the control plane at {self.url} answered with a revision this node cannot "
                f"read ({type(exc).__name__}: {exc}); is it an Interlink admin API?"
            ) from None

    async def bundle(self, content_hash: str) -> bytes:
        """The estate files of the revision with ``content_hash``, as one bundle."""
        response = await self._call("GET", f"/api/v1/estate/bundles/{content_hash}")
        return response.content

    async def report(self, node_id: str, status: dict[str, Any]) -> None:
        """Record this node's status in the control plane's `GET /api/v1/nodes`."""
        await self._call("PUT", f"/api/v1/nodes/{node_id}", json=status)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _call(
        self, method: str, path: str, *, timeout: float = REQUEST_TIMEOUT, **kwargs: Any
    ) -> httpx.Response:
        if self._client is None:
            self._client = httpx.AsyncClient(base_url=self.url, headers=self._headers)
        try:
            response = await self._client.request(method, path, timeout=timeout, **kwargs)
        except httpx.HTTPError as exc:
            why = str(exc) or type(exc).__name__
            raise ControlPlaneUnreachable(
                f"cannot reach the control plane at {self.url}: {why}"
            ) from None
        if response.status_code < 400:
            return response
        detail = _detail(response)
        if response.status_code in (401, 403):
            raise AuthError(f"the control plane at {self.url} refuses this node's token: {detail}")
        if response.status_code >= 500:
            raise ControlPlaneUnreachable(
                f"the control plane at {self.url} cannot answer now: {detail}"
            )
        raise InterlinkError(f"the control plane at {self.url} refused {method} {path}: {detail}")


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    detail = body.get("detail") if isinstance(body, dict) else None
    return str(detail) if detail else f"HTTP {response.status_code}"
