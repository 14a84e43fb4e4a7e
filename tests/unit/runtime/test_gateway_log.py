"""What `interlink serve` logs about routes its gateway leaves out, at start and on reload."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from interlink.estate.loader import load_estate
from interlink.gateway import GatewayConfig, compile_gateway
from interlink.runtime.gateway import log_unserved
from tests.unit.gateway.helpers import route, write_estate

SHADOWED = [{"system": "crm"}, {"system": "crm", "shadow": True}]


def _config(root: Path, ignore: str) -> GatewayConfig:
    write_estate(
        root,
        {"crm": "http://crm"},
        [
            route("plain", "/p", "crm"),
            route("compared", "/c", "crm", upstreams=SHADOWED, compare={"ignore": [ignore]}),
        ],
    )
    estate, _ = load_estate(root)
    return compile_gateway(estate)


def test_a_reload_that_drops_a_served_route_warns_naming_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    served = _config(tmp_path / "a", "/servedBy")
    dropped = _config(tmp_path / "b", "servedBy")
    with caplog.at_level(logging.INFO, "interlink.gateway"):
        log_unserved(None, served)
        assert caplog.records == []
        log_unserved(served, dropped)
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "route compared was served and is not any more: compare.ignore: 'servedBy' is not "
            "a JSON pointer (/a/b, /a/*/c)",
        ),
    ]


def test_routes_left_out_at_start_are_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = _config(tmp_path, "servedBy")
    with caplog.at_level(logging.INFO, "interlink.gateway"):
        log_unserved(None, config)
        log_unserved(config, config)  # the same routes left out again: said once
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "1 route not served yet: compared (compare.ignore: 'servedBy' is not a JSON pointer "
            "(/a/b, /a/*/c))",
        ),
    ]
