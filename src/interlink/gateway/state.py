"""State the gateway keeps across reloads, each value under a typed key its owner makes.

A policy or guard compiled again on reload finds its state here: circuit breakers, rate-limit
counters, JWKS caches. A :class:`StateKey` says what its value is (as aiohttp's ``AppKey``
does), so every read and write of :class:`SharedState` is typed.
"""

from __future__ import annotations

from typing import Generic, TypeVar, cast, final

T = TypeVar("T")


@final
class StateKey(Generic[T]):
    """The key of one value of type ``T``. Keys made of the same parts are equal, so an owner
    makes its key again on each compile: ``StateKey[CircuitBreaker]("breaker", route, system)``.
    The first part names the owner, keeping owners' keys apart."""

    __slots__ = ("parts",)

    def __init__(self, *parts: str) -> None:
        self.parts = parts

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StateKey) and other.parts == self.parts

    def __hash__(self) -> int:
        return hash(self.parts)

    def __repr__(self) -> str:
        return f"StateKey{self.parts!r}"


class SharedState:
    """Values by :class:`StateKey`: what each owner put under its key, of the key's type."""

    __slots__ = ("_values",)

    def __init__(self) -> None:
        # Only __setitem__ writes, with a value of its key's type: the casts below hold.
        self._values: dict[object, object] = {}

    def get(self, key: StateKey[T]) -> T | None:
        return cast("T | None", self._values.get(key))

    def __getitem__(self, key: StateKey[T]) -> T:
        return cast("T", self._values[key])

    def __setitem__(self, key: StateKey[T], value: T) -> None:
        self._values[key] = value

    def __contains__(self, key: object) -> bool:
        return key in self._values
