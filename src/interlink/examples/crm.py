"""The new CRM's own data in `interlink demo`: what its data products read.

- Its customers table, in a SQLite database at the path System/crm-db names (what
  DataProduct/crm-customers reads, and customer-360 joins). ``POST /control/bad-customer`` on
  the CRM's port stores a customer breaking the contract (an email without an ``@``): the
  next refresh of customer-360 fails, the last good data keeps serving, the violation is
  recorded and Monitor/customer-360-refreshes fires. ``POST /control/repair-customers``
  removes it.
- The current address of each customer, starting from where they live and moved by every
  address change the CRM simulator publishes, answered page by page on
  ``GET /customers/addresses?limit=N&cursor=C`` as flat records (``{"items": […], "next":
  cursor}``): DataProduct/customer-addresses.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from interlink.testing.receivers import Received, Reply

#: ``POST`` on the CRM's port: store a customer breaking the contract, or remove it.
BAD_PATH, REPAIR_PATH = "/control/bad-customer", "/control/repair-customers"
ADDRESSES_PATH = "/customers/addresses"
#: The customer the bad row is stored as.
BAD_CUSTOMER = "C000099"
#: The customers table: id, name, email, tier, created_at.
CUSTOMERS = (
    ("C000001", "Ada Lovelace", "ada@example.com", "gold", "2021-03-04T10:00:00Z"),
    ("C000002", "Grace Hopper", "grace@example.com", "silver", "2021-06-12T08:30:00Z"),
    ("C000003", "Alan Turing", "alan@example.org", "gold", "2022-01-20T14:00:00Z"),
    ("C000004", "Hedy Lamarr", "hedy@example.net", "bronze", "2023-05-02T09:15:00Z"),
    ("C000005", "Edsger Dijkstra", "edsger@example.nl", "silver", "2024-02-29T16:45:00Z"),
    ("C000042", "Katherine Johnson", "katherine@example.com", "bronze", "2025-07-07T07:07:00Z"),
)
#: Where each lives before the simulator moves them: street, city, postal code, country.
HOMES = {
    "C000001": ("1 Quay St", "Galway", "H91", "IE"),
    "C000002": ("5 Hafenstr.", "Hamburg", "20457", "DE"),
    "C000003": ("10 Rue Verte", "Lyon", "69001", "FR"),
    "C000004": ("3 Ring", "Vienna", "1010", "AT"),
    "C000005": ("350 Fifth Ave", "New York", "10118", "US"),
    "C000042": ("9 Kai", "Berlin", "10115", "DE"),
}
_JSON = {"content-type": "application/json"}


class CrmData:
    """The CRM's customers (in its database) and their current addresses (in memory)."""

    def __init__(self, database: Path, echo: Any = None) -> None:
        self.database = database
        self._echo = echo
        self._lock = threading.Lock()
        since = "2026-01-01T00:00:00Z"
        self.addresses: dict[str, dict[str, Any]] = {
            cid: {
                "id": cid,
                "street": street,
                "city": city,
                "postal_code": code,
                "country": country,
                "updated_at": since,
            }
            for cid, (street, city, code, country) in HOMES.items()
        }

    def create(self) -> None:
        """The customers table as the demo starts: the known customers, no bad row."""
        self.database.parent.mkdir(parents=True, exist_ok=True)
        with closing(self._connect()) as db, db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS customers (id TEXT PRIMARY KEY, name TEXT, "
                "email TEXT, tier TEXT, created_at TEXT)"
            )
            db.executemany("INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, ?)", CUSTOMERS)
            db.execute("DELETE FROM customers WHERE id = ?", (BAD_CUSTOMER,))

    def moved(self, customer: str, address: dict[str, Any], at: str) -> None:
        """An address change the CRM published: the customer's current address from now."""
        with self._lock:
            self.addresses[customer] = {
                "id": customer,
                "street": address.get("street"),
                "city": address.get("city"),
                "postal_code": address.get("postalCode"),
                "country": address.get("country"),
                "updated_at": at,
            }

    def control(self, request: Received) -> Reply:
        """``POST /control/bad-customer`` or ``/control/repair-customers``."""
        bad = request.path == BAD_PATH
        with closing(self._connect()) as db, db:
            if bad:
                db.execute(
                    "INSERT OR REPLACE INTO customers VALUES (?, ?, ?, ?, ?)",
                    (BAD_CUSTOMER, "Broken Row", "not an email", "gold", "2026-11-30T00:00:00Z"),
                )
            else:
                db.execute("DELETE FROM customers WHERE id = ?", (BAD_CUSTOMER,))
        said = (
            f"stored {BAD_CUSTOMER} with the email 'not an email' (the contract wants one with @)"
            if bad
            else f"removed {BAD_CUSTOMER}: the customers keep the contract again"
        )
        if self._echo is not None:
            self._echo(f"crm        ! database: {said}")
        body = {"system": "crm-db", "badCustomer": bad}
        return Reply(200, _JSON, json.dumps(body).encode())

    def addresses_page(self, request: Received) -> Reply:
        """One page of the current addresses, by id: ``limit`` (default 50) from ``cursor``."""
        params = dict(parse_qsl(request.query))
        try:
            limit = max(1, min(int(params.get("limit", "50")), 500))
            start = int(params.get("cursor", "0"))
        except ValueError:
            body = {"title": "Bad request", "status": 400, "detail": "limit and cursor count"}
            return Reply(
                400, {"content-type": "application/problem+json"}, json.dumps(body).encode()
            )
        with self._lock:
            records = [self.addresses[k] for k in sorted(self.addresses)]
        page = records[start : start + limit]
        after = start + limit
        next_cursor = str(after) if after < len(records) else None
        return Reply(200, _JSON, json.dumps({"items": page, "next": next_cursor}).encode())

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.database, timeout=5)
