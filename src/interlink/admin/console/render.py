"""The console's pages as HTML: one Jinja2 environment over the package's templates, with
autoescaping on, and the navigation a viewer's token may follow."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from interlink.admin.console.access import may
from interlink.admin.console.session import BASE, Viewer

HERE: Final = Path(__file__).parent

#: The navigation: (path under /console, label, the admin action reading the page needs).
NAV: Final = (
    ("/catalog", "Systems, Apis and Events", "estate.read"),
    ("/inventory", "Inventory", "inventory.read"),
    ("/routes", "Gateway routes", "estate.read"),
    ("/consumers", "Consumers", "estate.read"),
    ("/subscriptions", "Subscriptions", "subscriptions.list"),
    ("/runs", "Flow runs", "runs.list"),
    ("/products", "Data products", "estate.read"),
    ("/lineage", "Lineage", "lineage.trace"),
    ("/map", "Estate map", "graph.read"),
    ("/monitors", "Monitors and alerts", "monitors.list"),
    ("/revisions", "Revisions", "revisions.list"),
    ("/audit", "Audit", "audit.list"),
    ("/edit", "Edit the estate", "estate.read"),
)

_env = Environment(
    loader=FileSystemLoader(HERE / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    undefined=StrictUndefined,  # a misspelt field fails the page (and its test), never blank
    trim_blocks=True,
    lstrip_blocks=True,
)


def fact(value: Any) -> str:
    """A monitor's fact as a person reads it: a measure to four significant digits, not to
    sixteen."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


_env.filters["fact"] = fact


def html(
    request: Request,
    template: str,
    viewer: Viewer | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> HTMLResponse:
    """``template`` rendered for ``viewer`` (None: signed out)."""
    nav = [] if viewer is None else [(BASE + p, label) for p, label, a in NAV if may(viewer, a)]
    body = _env.get_template(template).render(
        base=BASE,
        path=request.url.path,
        viewer=viewer,
        csrf=viewer.csrf if viewer is not None else None,
        nav=nav,
        notice=context.pop("notice", None),
        may=(lambda action, targets=None: may(viewer, action, targets)) if viewer else None,
        **context,
    )
    return HTMLResponse(body, status_code=status)
