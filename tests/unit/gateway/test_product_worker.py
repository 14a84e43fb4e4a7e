"""A gateway worker process serves product routes with products of its own."""

from __future__ import annotations

from pathlib import Path

from interlink.gateway.connection_limits import Limits
from interlink.gateway.workers.worker import (
    SERVED_ESTATE,
    WorkerOptions,
    load_config,
    open_services,
)
from tests.unit.products.helpers import make_estate, orders_product

ROUTE = """---
apiVersion: interlink/v1
kind: Route
metadata: {name: orders, owner: data}
spec: {match: {path: /data/orders}, product: orders}
"""


def test_a_worker_reads_products_over_the_estate_it_serves(tmp_path: Path) -> None:
    subject = "  subject: {type: customer, key: id}\n"  # a served PII column: check asks for it
    root = make_estate(tmp_path, orders_product(extra=subject) + ROUTE)
    options = WorkerOptions(str(root), "127.0.0.1:0", Limits(), products_dir=str(tmp_path / "p"))
    assert WorkerOptions.from_json(options.to_json()) == options
    services = open_services(options)
    assert services.products is not None
    config = load_config(options, services)
    assert [r.name for r in config.routes] == ["orders"]
    assert config.unserved == ()
    assert services.products.names() == ["orders"]
    assert services.state[SERVED_ESTATE].get("DataProduct", "orders") is not None
    without = open_services(WorkerOptions(str(root), "127.0.0.1:0", Limits()))
    assert [u.route for u in load_config(options, without).unserved] == ["orders"]
