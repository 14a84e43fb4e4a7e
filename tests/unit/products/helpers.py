"""An estate with data products over a SQLite database and a directory of files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from interlink.estate.loader import load_estate
from interlink.estate.model import Estate

HEAD = """\
apiVersion: interlink/v1
kind: Team
metadata: {name: data}
spec: {}
---
apiVersion: interlink/v1
kind: System
metadata: {name: shop, owner: data}
spec:
  domain: sales
  connector: sqlite
  connection: {path: %(db)s}
---
apiVersion: interlink/v1
kind: System
metadata: {name: drop, owner: data}
spec:
  domain: sales
  connector: directory
  connection: {root: %(files)s}
"""


def make_estate(root: Path, products: str) -> Path:
    """An estate under ``root`` with the ``shop`` (SQLite at root/shop.db, table orders) and
    ``drop`` (directory root/files) Systems and ``products``."""
    (root / "files").mkdir(parents=True, exist_ok=True)
    estate = root / "estate"
    estate.mkdir(exist_ok=True)
    text = HEAD % {"db": root / "shop.db", "files": root / "files"}
    (estate / "estate.yaml").write_text(text + "---\n" + products)
    return estate


def load(estate_dir: Path) -> Estate:
    estate, findings = load_estate(estate_dir)
    errors = [f for f in findings if f.severity == "error"]
    assert not errors, errors
    return estate


def orders_db(root: Path, rows: list[tuple[int, str, str, float, str]]) -> None:
    """(Re)create the orders table: id, status, email, amount, placed_at."""
    with sqlite3.connect(root / "shop.db") as db:
        db.execute("DROP TABLE IF EXISTS orders")
        db.execute(
            "CREATE TABLE orders (id INTEGER PRIMARY KEY, status TEXT, email TEXT, "
            "amount REAL, placed_at TEXT, note TEXT)"
        )
        db.executemany(
            "INSERT INTO orders (id, status, email, amount, placed_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


def add_orders(root: Path, rows: list[tuple[int, str, str, float, str]]) -> None:
    with sqlite3.connect(root / "shop.db") as db:
        db.executemany(
            "INSERT INTO orders (id, status, email, amount, placed_at) VALUES (?, ?, ?, ?, ?)",
            rows,
        )


ORDERS = """\
apiVersion: interlink/v1
kind: DataProduct
metadata: {name: orders, owner: data}
spec:
  domain: sales
  source: {system: shop, type: sql, location: orders}
  mode: %(mode)s
  cacheTtl: %(ttl)s
%(refresh)s
  contract:
    rowCount: {min: 1}
    columns:
      - {name: id, type: integer, nullable: false, unique: true}
      - {name: status, type: string, allowed: [open, shipped]}
      - {name: email, type: string, pii: true}
      - {name: amount, type: number, minimum: 0}
      - {name: placed_at, type: timestamp}
  masking:
    - {column: email, method: hash}
"""


def orders_product(
    mode: str = "virtual", ttl: str = "60", refresh: str = "", extra: str = ""
) -> str:
    return ORDERS % {"mode": mode, "ttl": ttl, "refresh": refresh} + extra
