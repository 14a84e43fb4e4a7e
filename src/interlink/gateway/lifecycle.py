"""Lifecycle headers: a route serving a deprecated Api says so on every answer, and stops at
its sunset.

For a Route whose Api is ``deprecated`` every response carries:

- ``Deprecation: @<unix seconds>`` (RFC 9745, a structured-field Date) — when the Api was
  deprecated. The estate records no such day, so it is read from the Api's label
  ``interlink.dev/deprecated-at`` (``2026-01-15`` or an RFC 3339 time) when present; else it is
  when this gateway first served the Api as deprecated (kept across reloads), never later than
  the sunset.
- ``Sunset: <HTTP-date>`` (RFC 8594) — midnight UTC starting the Api's ``sunset`` day.
- ``Link: <url>; rel="successor-version"`` — where the ``successor`` Api is served: the path of
  the first Route (by name) serving it, with its host when it names one exactly; else the
  first absolute ``servers`` URL of its OpenAPI contract, else its ``externalDocs`` URL; else
  no Link.

From the sunset (by ``GatewayServices.clock``) the route answers 410 Gone, naming the
successor (in ``detail``, and as the problem members ``successor`` and ``successorUrl``), with
``Sunset`` and ``Link``; a ``retired`` Api's route answers 410 always.
"""

from __future__ import annotations

import datetime as dt
import math
from email.utils import formatdate
from typing import Any, Final

from interlink.estate.kinds.base import Lifecycle
from interlink.estate.kinds.contracts import Api
from interlink.estate.kinds.gateway import Route
from interlink.estate.model import Estate
from interlink.gateway.policy import Policy, Reply
from interlink.gateway.request import Request
from interlink.gateway.services import GatewayServices
from interlink.gateway.state import StateKey
from interlink.http.headers import Headers

DEPRECATED_AT_LABEL: Final = "interlink.dev/deprecated-at"


def http_date(seconds: float) -> str:
    """RFC 9110 IMF-fixdate: ``Wed, 30 Jun 2027 00:00:00 GMT``."""
    return formatdate(seconds, usegmt=True)


def deprecation_value(seconds: float) -> str:
    """RFC 9745 / RFC 9651 Date: ``@`` and whole seconds since the epoch."""
    return f"@{math.floor(seconds)}"


def day_start(day: dt.date) -> float:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()


def parse_instant(text: str) -> float | None:
    """A date (``2026-01-15``, midnight UTC) or an RFC 3339 time; None when it is neither."""
    text = text.strip()
    try:
        if len(text) == 10:
            return day_start(dt.date.fromisoformat(text))
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def successor_url(estate: Estate, name: str) -> str | None:
    """Where the Api ``name`` is served publicly; see the module doc."""
    routes = sorted(
        (r for r in estate.of(Route) if r.spec.api == name and r.spec.publish is None),
        key=lambda r: r.name,
    )
    for route in routes:
        path = _literal_prefix(route.spec.match.path)
        host = route.spec.match.host
        if host and not host.startswith("*."):
            return f"//{host}{path}"
        return path
    found = estate.get("Api", name)
    if found is None or not isinstance(found.obj, Api):
        return None
    contract = estate.contracts.get(found.resolve_file(found.obj.spec.contract))
    data: Any = contract.data if contract is not None else None
    if not isinstance(data, dict):
        return None
    for server in data.get("servers") or []:
        url = server.get("url") if isinstance(server, dict) else None
        if isinstance(url, str) and url.startswith(("https://", "http://")):
            return url
    docs = data.get("externalDocs")
    url = docs.get("url") if isinstance(docs, dict) else None
    return url if isinstance(url, str) and url.startswith(("https://", "http://")) else None


def _literal_prefix(path: str) -> str:
    """The path up to its first template segment: a Link target must be a real URL."""
    kept: list[str] = []
    for segment in path.split("/")[1:]:
        if "{" in segment:
            break
        kept.append(segment)
    return "/" + "/".join(kept)


def lifecycle_policy(route: Route, estate: Estate, services: GatewayServices) -> Policy | None:
    """The route's lifecycle policy, or None when its Api is neither deprecated nor retired."""
    if route.spec.api is None:
        return None
    found = estate.get("Api", route.spec.api)
    if found is None or not isinstance(found.obj, Api):
        return None
    api = found.obj
    state = api.spec.lifecycle
    if state not in (Lifecycle.DEPRECATED, Lifecycle.RETIRED):
        return None
    successor = api.spec.successor
    link = successor_url(estate, successor) if successor else None
    sunset = day_start(api.spec.sunset) if api.spec.sunset is not None else None

    gone_headers: Headers = []
    if sunset is not None:
        gone_headers.append((b"sunset", http_date(sunset).encode("ascii")))
    if link is not None:
        gone_headers.append((b"link", f'<{link}>; rel="successor-version"'.encode("latin-1")))
    use = ""
    members: dict[str, str] = {}
    if successor:
        use = f"; use Api {successor}" + (f" at {link}" if link else "")
        members["successor"] = successor
        if link:
            members["successorUrl"] = link

    if state is Lifecycle.RETIRED:
        gone = Reply(410, f"Api {api.name} is retired{use}", extra=members)

        def retired(request: Request) -> Reply | None:
            request.response_headers.extend(gone_headers)
            return gone

        return retired

    since = _deprecated_at(api, services, sunset)
    headers: Headers = [(b"deprecation", deprecation_value(since).encode("ascii")), *gone_headers]
    after = Reply(
        410, f"Api {api.name} reached its sunset on {api.spec.sunset}{use}", extra=members
    )
    clock = services.clock

    def deprecated(request: Request) -> Reply | None:
        if sunset is not None and clock() >= sunset:
            request.response_headers.extend(gone_headers)
            return after
        request.response_headers.extend(headers)
        return None

    return deprecated


def _deprecated_at(api: Api, services: GatewayServices, sunset: float | None) -> float:
    labelled = api.metadata.labels.get(DEPRECATED_AT_LABEL)
    if labelled is not None:
        moment = parse_instant(labelled)
        if moment is not None:
            return moment
    key: StateKey[float] = StateKey("deprecated-since", api.name)
    first = services.state.get(key)
    if first is None:
        first = services.state[key] = float(math.floor(services.clock()))
    return min(first, sunset) if sunset is not None else first
