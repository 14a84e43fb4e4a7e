"""Requests checked against the route's Api contract, and its responses recorded when they drift.

``operations`` maps the contract's operations to the gateway's public paths and finds the one a
request is for; ``documents`` compiles the contract's schemas (OpenAPI 3.0 and 3.1, ``$ref``
across files) with ``jsonschema-rs``; ``params`` reads parameters as OpenAPI serialises them;
``requests`` is the request policy; ``drift`` records responses that differ from the contract.
Everything is compiled with the snapshot, off the request path.
"""

from interlink.gateway.validation.requests import request_validation

__all__ = ["request_validation"]
