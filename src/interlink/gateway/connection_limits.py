"""What one client connection may cost the gateway: sizes and timeouts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    # Sizes. The two byte limits come from the Platform's gateway settings, so a reload may
    # change them; they apply from the next request on.
    max_header_bytes: int = 32_768  # request line and headers → 431
    max_body_bytes: int = 10 * 1_048_576  # → 413
    max_headers: int = 100  # → 431
    max_request_line: int = 8_192  # → 414
    # Timeouts, in seconds.
    header_timeout: float = 10.0  # first byte of a request to its last header (slowloris)
    keep_alive_timeout: float = 30.0  # idle between requests
    body_timeout: float = 30.0  # between two reads of a request body
    send_timeout: float = 30.0  # a client that stops reading its response
    shutdown_timeout: float = 10.0  # open requests get this long to finish on stop
