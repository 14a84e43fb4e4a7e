"""The loaded estate: typed objects, where each came from, and the contract files they name."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from interlink.estate.findings import Finding, Location, Severity
from interlink.estate.kinds import EstateObject, Event, Platform
from interlink.estate.yamlsource import Document, PathKey

T = TypeVar("T", bound=EstateObject)


@dataclass(frozen=True)
class Loaded:
    """An estate object and the YAML document it was read from (which no longer holds the
    data: the object does)."""

    obj: EstateObject
    doc: Document

    @property
    def key(self) -> str:
        return self.obj.key

    def location(self, path: PathKey = (), *, key: bool = False) -> Location:
        return self.doc.location(path, key=key)

    def finding(
        self,
        path: PathKey,
        code: str,
        message: str,
        *,
        severity: Severity = "error",
        hint: str | None = None,
    ) -> Finding:
        """A finding about this object, located at ``path`` in its document."""
        return Finding(severity, code, message, self.location(path), hint=hint, subject=self.key)

    def resolve_file(self, relative: str) -> Path:
        """A file named by this object, relative to the file the object is written in."""
        return (self.doc.file.parent / relative).resolve()


@dataclass(frozen=True)
class Contract:
    """A contract file (OpenAPI document or JSON Schema) an Api or Event names."""

    path: Path
    kind: str  # "openapi" | "jsonschema"
    doc: Document

    @property
    def data(self) -> Any:
        return self.doc.data


@dataclass
class Estate:
    root: Path
    objects: dict[str, Loaded] = field(default_factory=dict)
    contracts: dict[Path, Contract] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)
    # Documents of estate files that held no Interlink object: OpenAPI documents written in YAML
    # among them are reused as contracts instead of being read a second time.
    other_documents: dict[Path, list[Document]] = field(default_factory=dict)
    # The Platform found last time, and the dict and size it was found in: the gateway asks for
    # it once per Route, and a scan of every object each time made a large estate's check
    # quadratic.
    _platform: tuple[int, int, Loaded | None, Platform] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def __iter__(self) -> Iterator[Loaded]:
        return iter(self.objects.values())

    def __len__(self) -> int:
        return len(self.objects)

    def get(self, kind: str, name: str) -> Loaded | None:
        return self.objects.get(f"{kind}/{name}")

    def of(self, cls: type[T]) -> list[T]:
        return [item.obj for item in self.objects.values() if isinstance(item.obj, cls)]

    def loaded_of(self, kind: str) -> list[Loaded]:
        return [item for item in self.objects.values() if kind == item.obj.KIND]

    def names(self, kind: str) -> list[str]:
        return [item.obj.name for item in self.objects.values() if kind == item.obj.KIND]

    @property
    def platform(self) -> Platform:
        cached = self._platform
        if cached is not None and cached[:2] == (id(self.objects), len(self.objects)):
            item = cached[2]
            if item is None or self.objects.get(item.key) is item:
                return cached[3]
        found = next((i for i in self.objects.values() if isinstance(i.obj, Platform)), None)
        platform = found.obj if found is not None else self._default_platform()
        assert isinstance(platform, Platform)
        self._platform = (id(self.objects), len(self.objects), found, platform)
        return platform

    @staticmethod
    def _default_platform() -> Platform:
        default = {
            "apiVersion": "interlink/v1",
            "kind": "Platform",
            "metadata": {"name": "default"},
        }
        return Platform.model_validate(default)

    def event_schema(self, item: Loaded) -> Any:
        """The latest schema of the Event ``item`` as loaded; None when it could not be read."""
        assert isinstance(item.obj, Event)
        latest = item.obj.spec.schemas[-1]
        contract = self.contracts.get(item.resolve_file(latest.file))
        return contract.data if contract is not None else None

    def owner_of(self, obj: EstateObject) -> str | None:
        """The owning Team: the object's own, else (for Api and Event) its System's."""
        if obj.metadata.owner:
            return obj.metadata.owner
        system = getattr(obj.spec, "system", None)
        if isinstance(system, str):
            found = self.get("System", system)
            if found is not None:
                return found.obj.metadata.owner
        return None
