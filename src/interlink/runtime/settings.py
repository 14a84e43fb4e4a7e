"""Settings of `interlink serve`: each field is one CLI flag and one INTERLINK_* variable."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from interlink.leases import DEFAULT_TTL


@dataclass(frozen=True)
class ServeSettings:
    estate_dir: Path
    store_url: str | None = None  # --store-url / INTERLINK_STORE_URL; default from the estate
    admin_listen: str | None = None  # --admin-listen / INTERLINK_ADMIN_LISTEN; default Platform
    watch: bool = False  # --watch / INTERLINK_WATCH: reload when estate files change
    applied_by: str | None = None  # --applied-by / INTERLINK_APPLIED_BY: recorded per revision
    log_level: str = "info"  # --log-level / INTERLINK_LOG_LEVEL
    gateway_listen: str | None = None  # --gateway-listen / INTERLINK_GATEWAY_LISTEN; or Platform
    workers: int | None = None  # --workers / INTERLINK_WORKERS: gateway processes; default Platform
    # --gateway-header-timeout / INTERLINK_GATEWAY_HEADER_TIMEOUT: seconds for a request's head
    gateway_header_timeout: float = 10.0
    # --gateway-idle-timeout / INTERLINK_GATEWAY_IDLE_TIMEOUT: seconds a keep-alive may idle
    gateway_idle_timeout: float = 30.0
    access_log: bool = True  # --access-log / INTERLINK_ACCESS_LOG: one JSON line per request
    # --lease-ttl / INTERLINK_LEASE_TTL: seconds a node's leases live, and the NATS ack wait;
    # how soon a dead node's work moves on (give every node the same value)
    lease_ttl: float = DEFAULT_TTL
    # A data-plane node: --control-plane / INTERLINK_CONTROL_PLANE is the admin API it takes its
    # revisions from, with --token / INTERLINK_CONTROL_PLANE_TOKEN (a dataplane token); its store,
    # event log and last good revision are under --state-dir / INTERLINK_STATE_DIR.
    control_plane: str | None = None
    control_plane_token: str | None = field(default=None, repr=False)
    state_dir: Path | None = None
