"""The data products on a serving node: :func:`start_products`, one call.

The node's :class:`~interlink.products.service.Products` reads the running estate, keeps
materialised products under ``<estate>/.interlink/products`` (a data-plane node: its state
directory) and its refreshes in the store and the monitors' signals. A
control-plane node (not a data-plane one) refreshes on the schedules, under the
``product-refresh`` lease when the store is PostgreSQL.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from interlink.leases import LeaseKeeper
from interlink.products.history import RefreshHistory
from interlink.products.schedule import RefreshSchedule
from interlink.products.service import Products
from interlink.products.storage import data_dir
from interlink.runtime.runtime import Runtime


def products_dir(runtime: Runtime) -> Path:
    """The Platform's shared ``products.dataDir``, else the node's own directory."""
    settings = runtime.settings
    if settings.state_dir is not None:
        own = settings.state_dir / "products"
    else:
        own = settings.estate_dir.resolve() / ".interlink" / "products"
    return data_dir(runtime.snapshot.estate, own)


async def start_products(runtime: Runtime) -> tuple[Products, RefreshSchedule | None]:
    """Start the products (and their refresh schedule, unless this is a data-plane node); the
    caller closes both when the server stops."""
    products = Products(
        lambda: runtime.snapshot.estate,
        products_dir(runtime),
        history=RefreshHistory(runtime.store.db),
    )
    if runtime.settings.control_plane:
        return products, None
    keeper = runtime.mesh.keeper if runtime.mesh is not None else None
    owned: LeaseKeeper | None = None
    if keeper is None and runtime.store.db.dialect == "postgres":
        node = runtime.node_id or uuid.uuid4().hex[:12]
        keeper = owned = LeaseKeeper(
            runtime.store.leases, f"{node}-products", ttl=runtime.settings.lease_ttl
        )
    bus = runtime.mesh.bus if runtime.mesh is not None else None
    schedule = RefreshSchedule(products, keeper=keeper, bus=bus)
    await schedule.start()
    if owned is not None:
        await owned.start()
        schedule.owned_keeper = owned
    return products, schedule
