"""Which way a comparison reads, and how strictly undeclared properties are judged."""

from __future__ import annotations

from enum import StrEnum

from interlink.errors import ContractError


class Direction(StrEnum):
    """Who reads whose data in one comparison of an old and a new schema."""

    #: Readers using the new schema read data written with the old one.
    BACKWARD = "backward"
    #: Readers still using the old schema read data written with the new one.
    FORWARD = "forward"

    @classmethod
    def parse(cls, value: Direction | str) -> Direction:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ContractError(f"unknown direction '{value}' (use backward or forward)") from None


class Policy(StrEnum):
    """How properties a writer's schema does not name are judged.

    ``strict`` assumes a writer may emit any property its content model allows, so an open
    model's undeclared properties can hold anything. ``lenient`` assumes writers emit only the
    properties their schema names under ``properties`` (the usual case for generated code).
    """

    STRICT = "strict"
    LENIENT = "lenient"

    @classmethod
    def parse(cls, value: Policy | str) -> Policy:
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ContractError(f"unknown policy '{value}' (use strict or lenient)") from None
