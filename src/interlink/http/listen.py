"""Listen addresses: the HOST:PORT a server binds, as flags and the Platform give them."""

from __future__ import annotations

from interlink.errors import ConfigError


def parse_listen(value: str) -> tuple[str, int]:
    """("127.0.0.1", 8081) for "127.0.0.1:8081"; "[::1]:8081" for IPv6."""
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigError(f"listen address must be HOST:PORT, got {value!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)
