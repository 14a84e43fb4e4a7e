"""Benchmark `check_estate` on a generated, realistic estate.

    .venv/bin/python bench/check_estate.py [--objects 2000] [--keep DIR]

Generates an estate of ``--objects`` objects (by default 2,000: 200 Api objects with an OpenAPI
3.0/3.1 document of 10-20 operations each, 300 Event objects with a JSON Schema 2020-12 file of
10-40 properties each, and the teams, systems, routes, plans, consumers, subscriptions, flows,
data products and monitors around them, every reference valid), makes sure it checks clean, then
times `check_estate`: the cold first run in this process and the median of the next three. The
real `interlink check` command is timed once end to end (interpreter start-up included).
The target is 2 s for 2,000 objects; timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from interlink.estate.check import CheckResult, check_estate

DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
TARGET_SECONDS = 2.0
DEFAULT_OBJECTS = 2000
JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"
DOMAINS = ["sales", "finance", "logistics", "warehouse", "hr", "marketing", "support", "payments"]
RESOURCES = ["customer", "order", "invoice", "shipment", "product", "payment", "ticket", "account"]
PII_FIELDS = {"email", "phone", "street", "postalCode", "birthDate", "fullName", "iban"}

# Share of each kind in an estate of DEFAULT_OBJECTS objects; Monitors take what is left.
SHARES = {
    "Platform": 1,
    "Team": 40,
    "System": 160,
    "Api": 200,
    "Event": 300,
    "Route": 200,
    "Plan": 20,
    "Consumer": 150,
    "Subscription": 400,
    "Flow": 150,
    "DataProduct": 80,
}


@dataclass
class Generated:
    root: Path
    counts: dict[str, int] = field(default_factory=dict)
    files: int = 0
    bytes: int = 0


def counts_for(total: int) -> dict[str, int]:
    scale = total / DEFAULT_OBJECTS
    counts = {kind: max(1, round(share * scale)) for kind, share in SHARES.items()}
    counts["Platform"] = 1
    counts["Route"] = counts["Api"]  # one route per API
    counts["Monitor"] = max(0, total - sum(counts.values()))
    return counts


def envelope(kind: str, name: str, spec: dict[str, Any] | None, **metadata: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "interlink/v1",
        "kind": kind,
        "metadata": {"name": name, **metadata},
    }
    if spec is not None:
        doc["spec"] = spec
    return doc


class Writer:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files = 0
        self.bytes = 0

    def text(self, relative: str, text: str) -> None:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        self.files += 1
        self.bytes += len(text.encode("utf-8"))

    def yaml(self, relative: str, docs: list[dict[str, Any]]) -> None:
        self.text(relative, yaml.dump_all(docs, Dumper=DUMPER, sort_keys=False, width=100))


# --- contracts -------------------------------------------------------------------------------


def _flow_operations() -> dict[str, Any]:
    """The operations the generated Flows call on every Api and System (an enrich step's GET,
    a call's PUT and its compensating DELETE): check finds a Flow's call that its contract
    lacks."""
    ref = [{"name": "ref", "in": "path", "required": True, "schema": {"type": "string"}}]

    def op(name: str, status: str) -> dict[str, Any]:
        return {"operationId": name, "responses": {status: {"description": name}}}

    return {
        "/customers/{ref}": {"parameters": ref, "get": op("getCustomerByRef", "200")},
        "/records/{ref}": {
            "parameters": ref,
            "put": op("putRecord", "200"),
            "delete": op("deleteRecord", "204"),
        },
    }


def openapi_document(rng: random.Random, title: str, version: str) -> dict[str, Any]:
    """An OpenAPI document of 10-20 operations over a few resources, with shared components."""
    wanted = rng.randint(10, 20)
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {
        "Error": {
            "type": "object",
            "required": ["title", "status"],
            "properties": {
                "type": {"type": "string", "format": "uri"},
                "title": {"type": "string"},
                "status": {"type": "integer", "minimum": 100, "maximum": 599},
                "detail": {"type": "string"},
            },
        },
        "Money": {
            "type": "object",
            "required": ["amount", "currency"],
            "properties": {
                "amount": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]{1,4})?$"},
                "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            },
        },
    }
    operations = 0
    resources = rng.sample(RESOURCES, k=len(RESOURCES))
    for resource in resources:
        if operations >= wanted:
            break
        model = resource.capitalize()
        properties: dict[str, Any] = {
            "name": {"type": "string", "maxLength": 200},
            "status": {"type": "string", "enum": ["draft", "active", "closed"]},
            "total": {"$ref": "#/components/schemas/Money"},
            "createdAt": {"type": "string", "format": "date-time"},
        }
        for extra in range(rng.randint(2, 8)):
            properties[f"attribute{extra}"] = {"type": rng.choice(["string", "integer", "boolean"])}
        schemas[f"New{model}"] = {"type": "object", "required": ["name"], "properties": properties}
        schemas[model] = {
            "allOf": [
                {"$ref": f"#/components/schemas/New{model}"},
                {"type": "object", "required": ["id"], "properties": {"id": {"type": "string"}}},
            ]
        }
        schemas[f"{model}Page"] = {
            "type": "object",
            "required": ["items"],
            "properties": {
                "items": {"type": "array", "items": {"$ref": f"#/components/schemas/{model}"}},
                "next": {"type": "string"},
            },
        }
        one = {
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{model}"}}}
        }
        body = {
            "required": True,
            "content": {
                "application/json": {"schema": {"$ref": f"#/components/schemas/New{model}"}}
            },
        }
        collection = {
            "get": {
                "operationId": f"list{model}s",
                "parameters": [
                    {"$ref": "#/components/parameters/Limit"},
                    {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                ],
                "responses": {
                    "200": {
                        "description": f"A page of {resource}s.",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": f"#/components/schemas/{model}Page"}
                            }
                        },
                    },
                    "default": {"$ref": "#/components/responses/Problem"},
                },
            },
            "post": {
                "operationId": f"create{model}",
                "requestBody": body,
                "responses": {
                    "201": {"description": "Created.", **one},
                    "422": {"$ref": "#/components/responses/Problem"},
                },
            },
        }
        item = {
            "parameters": [{"$ref": "#/components/parameters/Id"}],
            "get": {
                "operationId": f"get{model}",
                "responses": {
                    "200": {"description": f"One {resource}.", **one},
                    "404": {"$ref": "#/components/responses/Problem"},
                },
            },
            "put": {
                "operationId": f"replace{model}",
                "requestBody": body,
                "responses": {
                    "200": {"description": "Replaced.", **one},
                    "404": {"$ref": "#/components/responses/Problem"},
                },
            },
            "delete": {
                "operationId": f"delete{model}",
                "responses": {
                    "204": {"description": "Deleted."},
                    "404": {"$ref": "#/components/responses/Problem"},
                },
            },
        }
        notes = {
            "get": {
                "operationId": f"list{model}Notes",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                    {
                        "name": "noteId",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {"200": {"description": "A note."}},
            }
        }
        for template, item_ops in (
            (f"/{resource}s", collection),
            (f"/{resource}s/{{id}}", item),
            (f"/{resource}s/{{id}}/notes/{{noteId}}", notes),
        ):
            kept: dict[str, Any] = {}
            for method, op in item_ops.items():
                if method == "parameters":
                    kept[method] = op
                elif operations < wanted:
                    kept[method] = op
                    operations += 1
            if any(m != "parameters" for m in kept):
                paths[template] = kept
    paths.update(_flow_operations())
    return {
        "openapi": version,
        "info": {"title": title, "version": f"1.{rng.randint(0, 9)}.0"},
        "servers": [{"url": "https://api.example.com"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "parameters": {
                "Id": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
                "Limit": {
                    "name": "limit",
                    "in": "query",
                    "schema": {"type": "integer", "minimum": 1, "maximum": 200},
                },
            },
            "responses": {
                "Problem": {
                    "description": "An RFC 9457 problem.",
                    "content": {
                        "application/problem+json": {
                            "schema": {"$ref": "#/components/schemas/Error"}
                        }
                    },
                }
            },
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}},
        },
        "security": [{"apiKey": []}],
    }


def leaf(rng: random.Random, name: str) -> dict[str, Any]:
    if name in PII_FIELDS:
        return {"type": "string", "maxLength": 200, "x-pii": True}
    return rng.choice(
        [
            {"type": "string", "maxLength": rng.randint(10, 500)},
            {"type": "integer", "minimum": 0},
            {"type": "number"},
            {"type": "boolean"},
            {"type": "string", "format": "date-time"},
            {"type": "string", "pattern": "^[A-Z]{2}-[0-9]{4,8}$"},
            {"type": "string", "enum": ["new", "open", "done"]},
        ]
    )


def json_schema(rng: random.Random, title: str) -> tuple[dict[str, Any], list[str]]:
    """A JSON Schema of 10-40 properties, nested; and the dotted paths of its PII fields."""
    wanted = rng.randint(10, 40)
    pii: list[str] = []
    names = [
        "fullName",
        "email",
        "phone",
        "status",
        "source",
        "channel",
        "score",
        "note",
        "reference",
        "changedBy",
        "reason",
        "region",
        "tier",
        "version",
    ]
    properties: dict[str, Any] = {
        "id": {"type": "string", "pattern": "^[A-Z][0-9]{6}$"},
        "occurredAt": {"type": "string", "format": "date-time"},
        "amount": {"$ref": "#/$defs/money"},
    }
    count = 3
    if rng.random() < 0.7:
        address_fields = ["street", "city", "postalCode", "country"]
        properties["address"] = {
            "type": "object",
            "required": ["city", "country"],
            "properties": {name: leaf(rng, name) for name in address_fields},
        }
        pii += [f"address.{name}" for name in address_fields if name in PII_FIELDS]
        count += 1 + len(address_fields)
    if rng.random() < 0.6:
        line = {name: leaf(rng, name) for name in ("sku", "quantity", "unitPrice")}
        properties["lines"] = {
            "type": "array",
            "items": {"type": "object", "required": ["sku"], "properties": line},
        }
        count += 4
    i = 0
    while count < wanted:
        name = names[i] if i < len(names) else f"field{i}"
        properties[name] = leaf(rng, name)
        if name in PII_FIELDS:
            pii.append(name)
        count += 1
        i += 1
    schema = {
        "$schema": JSON_SCHEMA_DRAFT,
        "$id": f"https://schemas.example.com/{title}/v1",
        "title": title,
        "type": "object",
        "required": ["id", "occurredAt"],
        "properties": properties,
        "additionalProperties": False,
        "$defs": {
            "money": {
                "type": "object",
                "required": ["amount", "currency"],
                "properties": {
                    "amount": {"type": "string", "pattern": "^-?[0-9]+(\\.[0-9]+)?$"},
                    "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
                },
            }
        },
    }
    return schema, pii


# --- the estate ------------------------------------------------------------------------------


def _trigger(fed: bool, i: int, events: list[str]) -> dict[str, Any]:
    if fed:
        return {}
    if i % 2:
        return {"trigger": {"event": events[i % len(events)]}}
    return {"trigger": {"schedule": f"{i % 60} * * * *", "timezone": "Europe/Berlin"}}


def generate(root: Path, total: int, seed: int = 7) -> Generated:  # noqa: C901 - writes every kind of the estate in one pass
    rng = random.Random(seed)
    counts = counts_for(total)
    spec: dict[str, Any]
    out = Writer(root)

    teams = [f"team-{i:02d}" for i in range(counts["Team"])]
    out.yaml(
        "platform.yaml",
        [
            envelope(
                "Platform",
                "bench",
                {"gateway": {"listen": "127.0.0.1:8080"}, "admin": {"listen": "127.0.0.1:8081"}},
                owner=teams[0],
            )
        ],
    )
    out.yaml(
        "teams.yaml",
        [
            envelope(
                "Team",
                team,
                {
                    "members": [{"name": f"Person {i}", "email": f"p{i}@example.com"}],
                    "channels": [{"type": "email", "to": f"{team}@example.com"}],
                },
                description=f"Team number {i}",
            )
            for i, team in enumerate(teams)
        ],
    )

    systems = [f"sys-{i:03d}" for i in range(counts["System"])]
    system_owner = {name: teams[i % len(teams)] for i, name in enumerate(systems)}
    databases = systems[9::10]
    web = [name for name in systems if name not in databases]  # what Apis, Routes, calls reach
    by_domain: dict[str, list[dict[str, Any]]] = {}
    for i, name in enumerate(systems):
        domain = DOMAINS[i % len(DOMAINS)]
        spec = {
            "domain": domain,
            "baseUrl": f"http://127.0.0.1:{10000 + i}",
            "criticality": rng.choice(["low", "medium", "high", "critical"]),
            "dataClassification": rng.choice(["internal", "confidential"]),
        }
        if i % 10 == 0:
            spec["credentials"] = f"${{secret:{name}-token}}"
        if i % 10 == 9:  # a database: the DataProducts' sources (below), reached by no URL
            del spec["baseUrl"]
            spec.update(connector="sqlite", connection={"path": f"db/{name}.db"})
        by_domain.setdefault(domain, []).append(
            envelope("System", name, spec, owner=system_owner[name], title=f"System {i}")
        )
    for domain, docs in by_domain.items():
        out.yaml(f"systems/{domain}.yaml", docs)

    apis = [f"api-{i:03d}" for i in range(counts["Api"])]
    for i, name in enumerate(apis):
        version = "3.0.3" if i % 2 == 0 else "3.1.0"
        out.yaml(f"contracts/openapi/{name}.yaml", [openapi_document(rng, name, version)])
        spec = {
            "system": web[i % len(web)],
            "contract": f"../contracts/openapi/{name}.yaml",
            "version": 1,
        }
        if i % 25 == 0 and i + 1 < len(apis):
            spec.update(lifecycle="deprecated", sunset="2027-06-30", successor=apis[i + 1])
        metadata = {"owner": system_owner[spec["system"]]} if i % 2 else {}
        out.yaml(f"apis/{name}.yaml", [envelope("Api", name, spec, **metadata)])

    events: list[str] = []
    event_system: dict[str, str] = {}
    for i in range(counts["Event"]):
        domain = DOMAINS[i % len(DOMAINS)]
        name = f"{domain}.{RESOURCES[i % len(RESOURCES)]}-{i:03d}.changed"
        events.append(name)
        schema, pii = json_schema(rng, name)
        out.text(f"contracts/schemas/{name}.v1.schema.json", json.dumps(schema, indent=2))
        system = web[(i * 7) % len(web)]
        event_system[name] = system
        spec = {
            "system": system,
            "schemas": [{"version": 1, "file": f"../../contracts/schemas/{name}.v1.schema.json"}],
            "compatibility": "BACKWARD",
            "orderingKey": "id",
            "classification": {"level": "confidential" if pii else "internal", "pii": pii},
            "dedupWindow": "10m",
        }
        out.yaml(f"events/{domain}/{name}.yaml", [envelope("Event", name, spec)])

    routes = []
    for i, api in enumerate(apis[: counts["Route"]]):
        upstreams: list[dict[str, Any]] = [{"system": web[i % len(web)], "weight": 90}]
        if i % 3 == 0:
            upstreams.append({"system": web[(i + 1) % len(web)], "weight": 10})
        if i % 7 == 0:
            upstreams.append({"system": web[(i + 2) % len(web)], "shadow": True})
        spec = {
            "api": api,
            "match": {"path": f"/api/{api}"},
            "rewrite": {"path": "/"},
            "upstreams": upstreams,
            "auth": {"methods": [{"type": "apiKey"}], "scopes": [f"{api}:read"]},
            "resilience": {"timeouts": {"connect": "1s", "read": "5s"}, "maxConcurrent": 100},
        }
        routes.append(envelope("Route", f"route-{api}", spec, owner=teams[i % len(teams)]))
    for start in range(0, len(routes), 50):
        out.yaml(f"gateway/routes-{start // 50}.yaml", routes[start : start + 50])

    plans = [f"plan-{i:02d}" for i in range(counts["Plan"])]
    out.yaml(
        "gateway/plans.yaml",
        [
            envelope(
                "Plan",
                plan,
                {
                    "limits": [
                        {"requests": 10 * (k + 1), "per": "1s", "burst": 5 * (k + 1)},
                        {"requests": 600 * (k + 1), "per": "1m"},
                    ],
                    "quotas": {"daily": 100_000 * (k + 1), "monthly": 3_000_000 * (k + 1)},
                },
                owner=teams[0],
            )
            for k, plan in enumerate(plans)
        ],
    )

    consumers = []
    for i in range(counts["Consumer"]):
        spec = {
            "type": ["partner", "app", "internal"][i % 3],
            "plan": plans[i % len(plans)],
            "scopes": [f"{apis[i % len(apis)]}:read"],
        }
        if spec["type"] == "internal":
            spec["system"] = web[i % len(web)]
        consumers.append(
            envelope("Consumer", f"consumer-{i:03d}", spec, owner=teams[i % len(teams)])
        )
    out.yaml("gateway/consumers.yaml", consumers)

    flows = [f"flow-{i:03d}" for i in range(counts["Flow"])]
    # Every fifth Subscription (below) targets a Flow; such a flow needs no trigger of its own,
    # and one event may reach a flow only one way. The others run on an event or a schedule.
    fed = {flows[i % len(flows)] for i in range(counts["Subscription"]) if i % 5 == 0}
    flow_docs = []
    for i, name in enumerate(flows):
        callee = web[(i * 3) % len(web)]
        steps: list[dict[str, Any]] = [
            {"name": "once", "type": "idempotency", "key": "id", "window": "1d"},
            {"name": "only-active", "type": "filter", "condition": "status = 'active'"},
            {"name": "reshape", "type": "map", "expression": "{'ref': id, 'at': occurredAt}"},
            {
                "name": "lookup",
                "type": "enrich",
                "from": {"api": apis[i % len(apis)], "path": "/customers/{ref}"},
                "into": "customer",
            },
            {
                "name": "book",
                "type": "call",
                "system": callee,
                "method": "PUT",
                "path": "/records/{ref}",
                "compensate": {"system": callee, "method": "DELETE", "path": "/records/{ref}"},
            },
            {"name": "announce", "type": "publish", "event": events[(i + 1) % len(events)]},
        ]
        flow_docs.append(
            envelope(
                "Flow",
                name,
                {**_trigger(name in fed, i, events), "steps": steps, "timeout": "5m"},
                owner=teams[i % len(teams)],
            )
        )
    for start in range(0, len(flow_docs), 25):
        out.yaml(f"flows/flows-{start // 25}.yaml", flow_docs[start : start + 25])

    subscriptions = []
    for i in range(counts["Subscription"]):
        event = events[i % len(events)]
        target: dict[str, Any] = (
            {"flow": flows[i % len(flows)]}
            if i % 5 == 0
            else {"system": web[(i * 11) % len(web)], "path": f"/hooks/{i}"}
        )
        spec = {
            "event": event,
            "target": target,
            "ordered": i % 2 == 0,
            "retry": {"schedule": ["5s", "1m", "10m", "1h"]},
            "maxInFlight": 32,
        }
        if "system" in target:
            spec["secret"] = f"${{secret:sub-{i:03d}}}"
        subscriptions.append(
            envelope("Subscription", f"sub-{i:03d}", spec, owner=teams[i % len(teams)])
        )
    for start in range(0, len(subscriptions), 100):
        out.yaml(f"events/subscriptions-{start // 100}.yaml", subscriptions[start : start + 100])

    products = [f"dp-{i:03d}" for i in range(counts["DataProduct"])]
    out.yaml(
        "data/products.yaml",
        [
            envelope(
                "DataProduct",
                name,
                {
                    "domain": DOMAINS[i % len(DOMAINS)],
                    "source": {
                        "system": databases[i % len(databases)],
                        "type": "sql",
                        "location": "t",
                    },
                    "contract": {
                        "columns": [
                            {"name": "id", "type": "string", "nullable": False},
                            {"name": "email", "type": "string", "pii": True},
                            {"name": "updated_at", "type": "timestamp"},
                        ]
                    },
                    "freshness": {"maxAge": "1h", "column": "updated_at"},
                    "masking": [{"column": "email", "method": "hash"}],
                },
                owner=teams[i % len(teams)],
            )
            for i, name in enumerate(products)
        ],
    )

    monitors = []
    for i in range(counts["Monitor"]):
        choice = i % 3
        if choice == 0:
            spec = {
                "target": {"kind": "Route", "name": f"route-{apis[i % len(apis)]}"},
                "type": "slo",
                "slo": {"indicator": "availability", "objective": 99.9, "window": "28d"},
            }
        elif choice == 1:
            spec = {
                "target": {"kind": "DataProduct", "name": products[i % len(products)]},
                "type": "freshness",
                "freshness": {"maxAge": "2h"},
                "notify": [teams[i % len(teams)]],
            }
        else:
            spec = {
                "target": {"kind": "Subscription", "name": f"sub-{i % counts['Subscription']:03d}"},
                "type": "anomaly",
                "anomaly": {"metric": "volume"},
            }
        monitors.append(envelope("Monitor", f"mon-{i:03d}", spec, owner=teams[i % len(teams)]))
    out.yaml("monitors.yaml", monitors)

    return Generated(root=root, counts=counts, files=out.files, bytes=out.bytes)


# --- timing ----------------------------------------------------------------------------------


def timed_check(root: Path) -> tuple[float, CheckResult]:
    gc.collect()  # start each run without the garbage of the one before
    start = time.perf_counter()
    result = check_estate(root)
    return time.perf_counter() - start, result


def line(label: str, seconds: float, generated: Generated) -> str:
    objects = sum(generated.counts.values())
    rate = objects / seconds if seconds > 0 else float("inf")
    return (
        f"check_estate: {objects} objects ({generated.counts['Api']} OpenAPI, "
        f"{generated.counts['Event']} schemas) in {seconds:.2f} s = {rate:.0f} objects/s ({label})"
    )


def time_cli(root: Path, target: float) -> str:
    script = Path(sys.executable).with_name("interlink")
    if not script.exists():
        return "interlink check (CLI process): skipped, no interlink entry point beside python"
    start = time.perf_counter()
    proc = subprocess.run(
        [str(script), "check", str(root)], capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        first = (proc.stderr or proc.stdout).strip().splitlines()[:3]
        return f"interlink check (CLI process): exit {proc.returncode}: {' | '.join(first)}"
    summary = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    return (
        f"interlink check (CLI process, end to end): {seconds:.2f} s, exit 0 ({summary}); "
        f"{'PASS' if seconds <= target else 'MISS'} against {target:.2f} s"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=DEFAULT_OBJECTS)
    parser.add_argument("--keep", type=Path, help="generate into DIR and keep it")
    parser.add_argument("--runs", type=int, default=3, help="timed runs after the cold one")
    args = parser.parse_args(argv)
    if args.objects < len(SHARES) + 1:
        parser.error(f"--objects must be at least {len(SHARES) + 1}")
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    with tempfile.TemporaryDirectory(prefix="interlink-bench-") as tmp:
        root = args.keep or Path(tmp) / "estate"
        start = time.perf_counter()
        generated = generate(root, args.objects)
        took = time.perf_counter() - start
        kinds = ", ".join(f"{n} {kind}" for kind, n in generated.counts.items())
        print(f"generated {root}: {kinds}")
        print(
            f"  {generated.files} files, {generated.bytes / 1e6:.1f} MB, in {took:.2f} s",
            flush=True,
        )

        cold, result = timed_check(root)
        # Warnings are expected: like a real estate, some routes still use deprecated Apis, and
        # its Flows, DataProducts and Monitors are not run yet.
        expected = ("LIFECYCLE_DEPRECATED", "NOT_RUN")
        unexpected = [f for f in result.findings if f.code not in expected]
        if unexpected or len(result.estate) != sum(generated.counts.values()):
            print(f"the generated estate does not check clean: {len(result.estate)} objects,")
            for finding in unexpected[:20]:
                print("  " + finding.render(result.estate.root))
            return 1
        print(
            f"generated estate checks clean: {len(result.estate.contracts)} contract files, "
            f"{len(result.findings)} lifecycle and not-run warnings"
        )
        del result

        runs = [timed_check(root)[0] for _ in range(args.runs)]
        median = statistics.median(runs)
        print(line("cold, first run in this process", cold, generated))
        print(line(f"median of {args.runs} further runs", median, generated))
        print(f"  runs: {', '.join(f'{r:.3f}' for r in runs)} s")
        scale = f" (scaled to {args.objects} objects)" if args.objects != DEFAULT_OBJECTS else ""
        target = TARGET_SECONDS * args.objects / DEFAULT_OBJECTS
        for label, seconds in (("cold", cold), ("median", median)):
            verdict = "PASS" if seconds <= target else "MISS"
            print(f"target {target:.2f} s{scale}, {label}: {verdict}")
        print(time_cli(root, target))
    return 0


if __name__ == "__main__":
    sys.exit(main())
