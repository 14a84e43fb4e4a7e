"""Throughput of the contract compatibility engine.

Generates realistic event schemas (20-200 properties, nesting depth 4, mixed types, enums,
bounds, required lists) with one compatible and one incompatible change each and reports
compatibility checks per second; then diffs a generated 300-operation OpenAPI document against
a modified copy and reports the median time.

Run: .venv/bin/python bench/contracts.py [--seconds 3] [--schemas 40]
"""

from __future__ import annotations

import argparse
import copy
import random
import statistics
import time
from collections.abc import Callable
from typing import Any

from interlink.contracts import check_schemas, diff_openapi

Schema = dict[str, Any]

_WORDS = [
    "id", "name", "status", "amount", "currency", "created", "updated", "owner", "region",
    "email", "phone", "street", "city", "zip", "country", "sku", "quantity", "price", "note",
    "tier", "score", "active", "tags", "lines", "address", "customer", "order", "payment",
]  # fmt: skip


class SchemaFactory:
    """Random but plausible JSON Schemas for business events."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.budget = 0

    def event(self, properties: int) -> Schema:
        self.budget = properties
        schema = self.object(depth=1)
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        return schema

    def object(self, depth: int) -> Schema:
        count = min(self.budget, self.rng.randint(4, 14) if depth > 1 else 20)
        self.budget -= count
        props: dict[str, Any] = {}
        for index in range(count):
            name = f"{self.rng.choice(_WORDS)}_{index}"
            props[name] = self.value(depth)
        required = sorted(self.rng.sample(sorted(props), k=len(props) // 3))
        return {"type": "object", "properties": props, "required": required}

    def value(self, depth: int) -> Schema:
        roll = self.rng.random()
        if depth < 4 and self.budget > 0 and roll < 0.15:
            return self.object(depth + 1)
        if depth < 4 and self.budget > 0 and roll < 0.22:
            return {"type": "array", "items": self.object(depth + 1), "maxItems": 100}
        if roll < 0.40:
            return {"type": "string", "maxLength": self.rng.choice([16, 64, 255])}
        if roll < 0.52:
            values = self.rng.sample(["new", "open", "paid", "closed", "void", "held"], k=4)
            return {"type": "string", "enum": values}
        if roll < 0.62:
            return {"type": "string", "format": self.rng.choice(["date-time", "email", "uuid"])}
        if roll < 0.76:
            return {"type": "integer", "minimum": 0, "maximum": self.rng.choice([100, 10_000])}
        if roll < 0.86:
            return {"type": "number", "minimum": 0, "multipleOf": 0.01}
        if roll < 0.94:
            return {"type": "boolean"}
        return {"type": ["string", "null"], "pattern": "^[A-Z]{2}$"}


def _leaves(schema: Schema, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for name, sub in schema.get("properties", {}).items():
        where = (*path, "properties", name)
        if sub.get("type") == "object":
            found += _leaves(sub, where)
        elif sub.get("type") == "array":
            found += _leaves(sub["items"], (*where, "items"))
        else:
            found.append(where)
    return found


def _at(schema: Schema, path: tuple[str, ...]) -> Schema:
    node = schema
    for step in path:
        node = node[step]
    return node


def _compatible_change(leaf: Schema, parent: Schema, name: str) -> None:
    if "enum" in leaf:
        leaf["enum"] = [*leaf["enum"], "archived"]
    elif "maxLength" in leaf:
        leaf["maxLength"] *= 2
    elif leaf.get("type") == "integer":
        leaf["type"] = "number"
    elif name in parent.get("required", []):
        parent["required"].remove(name)
    else:
        leaf.pop("format", None)
        leaf.pop("pattern", None)
        leaf.pop("multipleOf", None)


def _incompatible_change(leaf: Schema, parent: Schema, name: str) -> None:
    if "enum" in leaf:
        leaf["enum"] = leaf["enum"][:-1]
    elif "maxLength" in leaf:
        leaf["maxLength"] //= 2
    elif leaf.get("type") == "number":
        leaf["type"] = "integer"
    else:
        leaf["type"] = "object" if leaf.get("type") != "object" else "string"


def changed(
    schema: Schema, rng: random.Random, mutate: Callable[[Schema, Schema, str], None]
) -> Schema:
    out = copy.deepcopy(schema)
    path = rng.choice(_leaves(out))
    mutate(_at(out, path), _at(out, path[:-2]), path[-1])
    return out


def bench_jsonschema(seconds: float, count: int) -> None:
    rng = random.Random(7)
    factory = SchemaFactory(rng)
    pairs: list[tuple[Schema, Schema, bool]] = []
    sizes: list[int] = []
    for _ in range(count):
        size = rng.randint(20, 200)
        schema = factory.event(size)
        sizes.append(size - factory.budget)
        pairs.append((schema, changed(schema, rng, _compatible_change), True))
        pairs.append((schema, changed(schema, rng, _incompatible_change), False))
    for old, new, expected in pairs:  # the generator must produce what it claims
        assert check_schemas(old, new).compatible is expected
    checks = 0
    start = time.perf_counter()
    while time.perf_counter() - start < seconds:
        for old, new, _ in pairs:
            check_schemas(old, new)
        checks += len(pairs)
    elapsed = time.perf_counter() - start
    print(
        f"jsonschema compat: {checks / elapsed:,.0f} checks/s "
        f"({len(pairs)} pairs of {min(sizes)}-{max(sizes)} properties, depth 4, "
        f"{checks} checks in {elapsed:.1f} s)"
    )


def openapi_document(operations: int, rng: random.Random) -> Schema:
    factory = SchemaFactory(rng)
    schemas = {f"Model{i}": factory.event(rng.randint(10, 40)) for i in range(40)}
    paths: dict[str, Any] = {}
    methods = ["get", "put", "post", "delete"]
    for index in range(operations // len(methods)):
        item: dict[str, Any] = {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
            ]
        }
        for method in methods:
            model = {"$ref": f"#/components/schemas/Model{rng.randrange(40)}"}
            op: dict[str, Any] = {
                "operationId": f"{method}{index}",
                "parameters": [
                    {"name": "limit", "in": "query", "schema": {"type": "integer", "maximum": 500}}
                ],
                "responses": {
                    "200": {
                        "description": "ok",
                        "content": {"application/json": {"schema": model}},
                    },
                    "404": {"description": "not found"},
                },
            }
            if method in ("put", "post"):
                body = {"$ref": f"#/components/schemas/Model{rng.randrange(40)}"}
                op["requestBody"] = {"content": {"application/json": {"schema": body}}}
            item[method] = op
        paths[f"/resources{index}/{{id}}"] = item
    return {
        "openapi": "3.1.0",
        "info": {"title": "bench", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def bench_openapi(runs: int) -> None:
    rng = random.Random(11)
    old = openapi_document(300, rng)
    new = copy.deepcopy(old)
    schemas = new["components"]["schemas"]
    for name in list(schemas)[:10]:
        path = rng.choice(_leaves(schemas[name]))
        _incompatible_change(_at(schemas[name], path), _at(schemas[name], path[:-2]), path[-1])
    del new["paths"]["/resources3/{id}"]["delete"]
    new["paths"]["/resources5/{id}"]["get"]["parameters"][0]["required"] = True
    timings = []
    report = diff_openapi(old, new)
    for _ in range(runs):
        start = time.perf_counter()
        report = diff_openapi(old, new)
        timings.append(time.perf_counter() - start)
    operations = sum(len([k for k in item if k != "parameters"]) for item in old["paths"].values())
    print(
        f"openapi diff: {operations} operations in {statistics.median(timings) * 1000:.0f} ms "
        f"(median of {runs} runs; {len(report.differences)} differences, "
        f"{len(report.breaking)} breaking)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--schemas", type=int, default=40)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    bench_jsonschema(args.seconds, args.schemas)
    bench_openapi(args.runs)


if __name__ == "__main__":
    main()
