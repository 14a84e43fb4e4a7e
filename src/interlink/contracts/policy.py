"""Which way a comparison reads, and how strictly undeclared properties are judged."""

from __future__ import annotations

from enum import StrEnum

from interlink.errors import ContractError
from interlink.estate.kinds.contracts import Direction

__all__ = ["Direction", "Policy"]


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
