"""The console: the estate in a browser, on the admin listener under /console.

Server-rendered HTML (Jinja2), with htmx (vendored in static/) for partial updates; it works
offline and needs no build step. A person signs in with an admin token, which a store-backed
session cookie then stands for (session.py); what each page shows and each button does follows
the token's role and Team scope through the admin API's own permission matrix (access.py), and
the pages read through the functions the admin API's endpoints are (pages.py, actions.py).
"""

from interlink.admin.console.app import create_console

__all__ = ["create_console"]
