"""Knowing the connectors costs no driver: the registry and every built-in's spec (its schema,
capabilities and docs, all that `interlink check` reads) import none of the client libraries,
which are imported when a System's connection is first opened."""

from __future__ import annotations

import json
import subprocess
import sys

#: The top-level packages of the built-in connectors' drivers.
DRIVERS = (
    "aio_pika",
    "aiormq",
    "aiomqtt",
    "aiosmtplib",
    "asyncmy",
    "asyncssh",
    "httpx",
    "nats",
    "obstore",
    "paho",
    "pamqp",
    "psycopg",
    "redis",
)

_PROGRAM = """
import json, sys
from interlink.connectors.registry import BUILT_IN, registry
from interlink.connectors.docs import reference_markdown, show_text

specs = registry().specs()
for spec in specs:
    spec.problems({})
    show_text(spec)
reference_markdown(specs)
print(json.dumps({
    "names": sorted(connector.spec.name for connector in BUILT_IN),
    "listed": [spec.name for spec in specs],
    "drivers": sorted({name.split(".")[0] for name in sys.modules} & set(sys.argv[1:])),
}))
"""


def test_listing_the_built_in_specs_imports_no_driver() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _PROGRAM, *DRIVERS],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    seen = json.loads(done.stdout)
    assert len(seen["names"]) >= 15
    assert set(seen["names"]) <= set(seen["listed"])
    assert seen["drivers"] == []


def test_opening_a_connection_imports_its_driver() -> None:
    """The check above can fail: the same probe sees a driver once a connector's client side
    is imported, as opening a System's connection does."""
    program = _PROGRAM.replace(
        "reference_markdown(specs)",
        "reference_markdown(specs)\nimport interlink.connectors.postgresql_client",
    )
    done = subprocess.run(
        [sys.executable, "-c", program, *DRIVERS],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert "psycopg" in json.loads(done.stdout)["drivers"]
