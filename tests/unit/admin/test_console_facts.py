"""A monitor's facts on the console: measures to four significant digits."""

from __future__ import annotations

from interlink.admin.console.render import fact


def test_a_measure_is_shown_to_four_significant_digits() -> None:
    assert fact(1.9109253883361816) == "1.911"
    assert fact(0.0) == "0"
    assert fact(3360) == "3360"
    assert fact("availability") == "availability"
