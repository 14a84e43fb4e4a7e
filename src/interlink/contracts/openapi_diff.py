"""Breaking-change detection between two OpenAPI 3.x documents.

Paths match by template shape, so ``/a/{id}`` → ``/a/{customerId}`` is the same path (the
rename is reported as info). Operations, parameters (by location and name), request bodies and
responses (by status and media type) are paired, and every schema pair is compared with the
JSON Schema rules in the direction that fits who reads it:

* request schemas are read by the server, so the new schema must accept what old clients send
  (BACKWARD): narrowing (enum value removed, ``maxLength`` lowered, ``pattern`` added, new
  required property) breaks;
* response schemas are read by clients, so old clients must understand what the new server
  sends (FORWARD): widening (enum value added, type extended) breaks, and so does removing a
  property clients may read.

Schemas are read the way API descriptions use them: ``allOf`` members are merged, ``nullable``
is ``null`` in the type list, and writers are assumed to send only declared properties
(the ``lenient`` policy), so adding an optional property is compatible on both sides. On the
request side ``readOnly`` properties are ignored, on the response side ``writeOnly`` ones.
Changing or removing a request ``default`` is breaking: clients that omit the value get other
behaviour; response defaults are info. Removing a success (``2XX``) or ``default`` response is
breaking, removing an error response is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from interlink.contracts import _pointer, openapi_operation
from interlink.contracts._document import Document
from interlink.contracts.difference import Difference
from interlink.contracts.jsonschema_compat import SchemaComparer
from interlink.contracts.openapi_messages import adjust_request, adjust_response
from interlink.contracts.openapi_security import diff_security
from interlink.contracts.policy import Direction, Policy
from interlink.contracts.refs import Resolver
from interlink.contracts.report import CompatReport
from interlink.errors import ContractError

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_TEMPLATE = re.compile(r"\{([^}/]*)\}")


@dataclass(frozen=True, slots=True)
class Part:
    """A piece of one side of the document: value, its document and its pointer."""

    value: Any
    doc: Document
    pointer: str


@dataclass(frozen=True, slots=True)
class OperationPair:
    label: str  # "GET /customers/{id}"
    old: Part
    new: Part
    old_item: Part
    new_item: Part
    renames: dict[str, str]  # old path parameter name -> new name


def diff_openapi(
    old: Mapping[str, Any],
    new: Mapping[str, Any],
    *,
    old_path: Path | None = None,
    new_path: Path | None = None,
) -> CompatReport:
    """Every difference between two OpenAPI documents, classified for API clients."""
    return OpenApiDiffer(old, new, old_path, new_path).run()


def _require_openapi(doc: Any, label: str) -> None:
    if not isinstance(doc, Mapping):
        raise ContractError(f"{label}: an OpenAPI document must be a mapping")
    version = doc.get("openapi")
    if not (isinstance(version, str) and version.startswith("3.")):
        found = f"swagger {doc['swagger']}" if "swagger" in doc else f"openapi {version!r}"
        raise ContractError(f"{label}: only OpenAPI 3.x documents can be compared (found {found})")


def _template_key(path: str) -> str:
    return _TEMPLATE.sub("{}", path)


class OpenApiDiffer:
    def __init__(
        self,
        old: Mapping[str, Any],
        new: Mapping[str, Any],
        old_path: Path | None,
        new_path: Path | None,
    ) -> None:
        old_label = str(old_path) if old_path else "old OpenAPI document"
        new_label = str(new_path) if new_path else "new OpenAPI document"
        _require_openapi(old, old_label)
        _require_openapi(new, new_label)
        self.resolver = Resolver()
        self.old_doc = self.resolver.add_root(old, path=old_path, label=old_label)
        self.new_doc = self.resolver.add_root(new, path=new_path, label=new_label)
        self.requests = SchemaComparer(
            self.resolver,
            direction=Direction.BACKWARD,
            policy=Policy.LENIENT,
            merge_all_of=True,
            ignore_flag="readOnly",
        )
        self.responses = SchemaComparer(
            self.resolver,
            direction=Direction.FORWARD,
            policy=Policy.LENIENT,
            merge_all_of=True,
            ignore_flag="writeOnly",
        )
        self.out: list[Difference] = []

    # -- plumbing ----------------------------------------------------------------------------

    def add(self, code: str, pointer: str, message: str, breaking: bool) -> None:
        self.out.append(Difference(code, pointer, message, breaking))

    def part(self, value: Any, doc: Document, pointer: str) -> Part:
        """Dereference one OpenAPI object (path item, parameter, response, ...)."""
        node, node_doc, _ = self.resolver.deref(value, doc)
        return Part(node, node_doc, pointer)

    @staticmethod
    def mapping(part: Part, key: str) -> dict[str, Any]:
        value = part.value.get(key, {}) if isinstance(part.value, Mapping) else {}
        if not isinstance(value, Mapping):
            where = _pointer.join(part.pointer, key)
            raise ContractError(
                f"invalid OpenAPI document {part.doc.label} at {where}: expected a mapping"
            )
        return dict(value)

    @staticmethod
    def check_object(part: Part) -> Part:
        if not isinstance(part.value, Mapping):
            raise ContractError(
                f"invalid OpenAPI document {part.doc.label} at {part.pointer}: expected a mapping"
            )
        return part

    def schemas(
        self,
        comparer: SchemaComparer,
        old: Part,
        new: Part,
        prefix: str,
    ) -> None:
        """Compare two schemas and record their findings in the words of the API side."""
        found = comparer.run(old.value, old.doc, new.value, new.doc, new.pointer)
        adjust = adjust_request if comparer.direction is Direction.BACKWARD else adjust_response
        for finding in found:
            adjusted, consequence = adjust(finding)
            self.out.append(adjusted.to_difference(new.pointer, prefix, consequence))

    # -- document walk -----------------------------------------------------------------------

    def run(self) -> CompatReport:
        root_old = Part(self.old_doc.root, self.old_doc, "#")
        root_new = Part(self.new_doc.root, self.new_doc, "#")
        # Only keys that start with "/" are paths; others are extensions ("x-...").
        old_paths = {k: v for k, v in self.mapping(root_old, "paths").items() if k.startswith("/")}
        new_paths = {k: v for k, v in self.mapping(root_new, "paths").items() if k.startswith("/")}
        old_index = {_template_key(p): p for p in old_paths}
        new_index = {_template_key(p): p for p in new_paths}
        for key, old_key in old_index.items():
            old_ptr = _pointer.join("#/paths", old_key)
            if key not in new_index:
                message = f"path {old_key} was removed: clients calling it will fail"
                self.add("PATH_REMOVED", old_ptr, message, True)
                continue
            new_key = new_index[key]
            old_item = self.check_object(self.part(old_paths[old_key], self.old_doc, old_ptr))
            new_ptr = _pointer.join("#/paths", new_key)
            new_item = self.check_object(self.part(new_paths[new_key], self.new_doc, new_ptr))
            self.path(old_key, old_item, new_key, new_item)
        for key, new_key in new_index.items():
            if key not in old_index:
                where = _pointer.join("#/paths", new_key)
                self.add("PATH_ADDED", where, f"path {new_key} was added", False)
        return CompatReport.of(self.out)

    def path(self, old_key: str, old_item: Part, new_key: str, new_item: Part) -> None:
        old_names = _TEMPLATE.findall(old_key)
        new_names = _TEMPLATE.findall(new_key)
        renames = dict(zip(old_names, new_names, strict=True))
        for before, after in renames.items():
            if before != after:
                message = f"path parameter '{before}' of {new_key} was renamed to '{after}'"
                self.add("PATH_PARAMETER_RENAMED", new_item.pointer, message, False)
        for method in METHODS:
            old_op = old_item.value.get(method)
            new_op = new_item.value.get(method)
            label = f"{method.upper()} {new_key}"
            if old_op is None and new_op is None:
                continue
            if new_op is None:
                where = _pointer.join(old_item.pointer, method)
                message = (
                    f"operation {method.upper()} {old_key} was removed: clients calling it "
                    "will fail"
                )
                self.add("OPERATION_REMOVED", where, message, True)
            elif old_op is None:
                where = _pointer.join(new_item.pointer, method)
                self.add("OPERATION_ADDED", where, f"operation {label} was added", False)
            else:
                old = self.check_object(
                    self.part(old_op, old_item.doc, _pointer.join(old_item.pointer, method))
                )
                new = self.check_object(
                    self.part(new_op, new_item.doc, _pointer.join(new_item.pointer, method))
                )
                self.operation(OperationPair(label, old, new, old_item, new_item, renames))

    def operation(self, op: OperationPair) -> None:
        if op.new.value.get("deprecated") is True and op.old.value.get("deprecated") is not True:
            message = f"operation {op.label} is now deprecated"
            self.add("OPERATION_DEPRECATED", op.new.pointer, message, False)
        openapi_operation.diff_parameters(self, op)
        openapi_operation.diff_request_body(self, op)
        openapi_operation.diff_responses(self, op)
        self.security(op)

    def security(self, op: OperationPair) -> None:
        old_value = op.old.value.get("security", self.old_doc.root.get("security"))
        new_value = op.new.value.get("security", self.new_doc.root.get("security"))
        where = (
            _pointer.join(op.new.pointer, "security")
            if "security" in op.new.value
            else "#/security"
        )
        self.out.extend(diff_security(old_value, new_value, where, op.label))
