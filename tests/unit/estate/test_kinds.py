"""The fourteen kinds: realistic documents validate, and the validators refuse bad ones."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import textwrap
from typing import Any

import pytest
import yaml
from pydantic import ValidationError

from interlink.estate.durations import format_duration, parse_duration
from interlink.estate.kinds import (
    KINDS,
    Api,
    Consumer,
    DataProduct,
    EstateObject,
    Event,
    Flow,
    Monitor,
    Plan,
    Platform,
    Route,
    Subscription,
    System,
    Team,
)
from interlink.estate.kinds.flow import CallStep, ChoiceStep, EnrichStep, iter_steps
from interlink.estate.kinds.gateway import JwtAuth

MINIMAL: dict[str, str] = {
    "Platform": """
        apiVersion: interlink/v1
        kind: Platform
        metadata: {name: retail}
    """,
    "Team": """
        apiVersion: interlink/v1
        kind: Team
        metadata: {name: sales}
    """,
    "System": """
        apiVersion: interlink/v1
        kind: System
        metadata: {name: crm}
        spec: {domain: sales}
    """,
    "Api": """
        apiVersion: interlink/v1
        kind: Api
        metadata: {name: customers-v1}
        spec: {system: crm, contract: contracts/customers.yaml}
    """,
    "Event": """
        apiVersion: interlink/v1
        kind: Event
        metadata: {name: customer.created}
        spec:
          system: crm
          schemas: [{version: 1, file: customer.created.v1.json}]
    """,
    "Route": """
        apiVersion: interlink/v1
        kind: Route
        metadata: {name: customers}
        spec:
          match: {path: /api/customers}
          upstreams: [{system: crm}]
    """,
    "Plan": """
        apiVersion: interlink/v1
        kind: Plan
        metadata: {name: free}
    """,
    "Consumer": """
        apiVersion: interlink/v1
        kind: Consumer
        metadata: {name: acme}
        spec: {plan: free}
    """,
    "Subscription": """
        apiVersion: interlink/v1
        kind: Subscription
        metadata: {name: erp-customers}
        spec:
          event: customer.created
          target: {system: erp}
    """,
    "Flow": """
        apiVersion: interlink/v1
        kind: Flow
        metadata: {name: nightly}
        spec:
          trigger: {manual: true}
          steps: [{name: reshape, type: map, expression: "$"}]
    """,
    "DataProduct": """
        apiVersion: interlink/v1
        kind: DataProduct
        metadata: {name: customers}
        spec:
          domain: sales
          source: {system: crm, type: sql, location: customers}
          contract:
            columns: [{name: id, type: string}]
    """,
    "Monitor": """
        apiVersion: interlink/v1
        kind: Monitor
        metadata: {name: orders-volume}
        spec:
          target: {kind: Event, name: order.created}
          type: anomaly
          anomaly: {}
    """,
    "Glossary": """
        apiVersion: interlink/v1
        kind: Glossary
        metadata: {name: sales}
        spec:
          terms: [{name: Customer, definition: Someone who bought from us.}]
    """,
    "Policy": """
        apiVersion: interlink/v1
        kind: Policy
        metadata: {name: rules}
        spec:
          rules: [{code: ROUTE_AUTH, description: routes authenticate, kind: Route,
                   require: $exists(spec.auth)}]
    """,
}

FULL: dict[str, str] = {
    "Platform": """
        apiVersion: interlink/v1
        kind: Platform
        metadata:
          name: retail
          title: Retail platform
          description: Integration platform of the retail group.
          owner: platform
          labels: {env: production}
        spec:
          store: {url: "postgresql://interlink:${secret:db-password}@db.internal:5432/interlink"}
          events:
            backend: nats
            url: nats://127.0.0.1:4222
            streamPrefix: retail
            maxPayloadBytes: 2097152
            dedupWindow: 15m
          gateway:
            listen: 0.0.0.0:8443
            workers: 4
            maxBodyBytes: 1048576
            maxHeaderBytes: 16384
            rateLimitStore: redis://127.0.0.1:6379
          admin: {listen: 127.0.0.1:9000}
          telemetry: {metrics: true, otlpEndpoint: http://127.0.0.1:4318, serviceName: retail}
          flows:
            retention: 14d
            failedRetention: 60d
            inlinePayloadBytes: 32768
            maxPayloadBytes: 8388608
    """,
    "Team": """
        apiVersion: interlink/v1
        kind: Team
        metadata: {name: sales, description: Owns customer data and the CRM}
        spec:
          members:
            - {name: Ana Ruiz, email: ana.ruiz@example.com, role: lead}
            - {name: Bo Chen}
          channels:
            - {type: email, to: sales@example.com, name: inbox}
            - {type: webhook, to: "https://hooks.example.com/sales"}
            - {type: chat, to: "${secret:sales-chat-webhook}"}
    """,
    "System": """
        apiVersion: interlink/v1
        kind: System
        metadata: {name: crm-legacy, title: Legacy CRM, owner: sales}
        spec:
          domain: sales
          baseUrl: https://crm-legacy.internal:8443/api
          criticality: critical
          dataClassification: restricted
          lifecycle: deprecated
          credentials: ${secret:crm-legacy-token}
    """,
    "Api": """
        apiVersion: interlink/v1
        kind: Api
        metadata: {name: customers-v1, owner: sales}
        spec:
          system: crm
          contract: ../contracts/customers-v1.openapi.yaml
          version: 1
          lifecycle: deprecated
          sunset: 2027-03-31
          successor: customers-v2
    """,
    "Event": """
        apiVersion: interlink/v1
        kind: Event
        metadata: {name: customer.address-updated, owner: sales}
        spec:
          system: crm
          schemas:
            - {version: 1, file: v1.json, lifecycle: deprecated}
            - {version: 2, file: v2.json}
          compatibility: FULL_TRANSITIVE
          orderingKey: customerId
          classification: {level: confidential, pii: [address.street]}
          dedupWindow: 10m
          lifecycle: active
    """,
    "Route": """
        apiVersion: interlink/v1
        kind: Route
        metadata: {name: customers, owner: sales}
        spec:
          api: customers-v1
          match: {path: "/api/customers/{id}", host: "*.example.com", methods: [GET, PUT]}
          rewrite: {path: /customers}
          upstreams:
            - {system: crm-legacy, path: /v1, weight: 90}
            - {system: crm, weight: 10}
            - {system: crm-next, shadow: true}
          sticky: false
          compare: {ignore: [/updatedAt]}
          auth:
            methods:
              - {type: apiKey, header: X-Key, query: key}
              - type: jwt
                issuer: https://login.example.com
                audiences: [retail]
                algorithms: [RS256, ES256]
                jwksUrl: https://login.example.com/.well-known/jwks.json
                leeway: 1m
                consumerClaim: azp
            scopes: [customers:read]
          group: customers
          validation: {request: off, response: record}
          resilience:
            timeouts: {connect: 250ms, read: 5s}
            retries: {attempts: 3, backoff: 100ms}
            circuitBreaker:
              {consecutiveFailures: 10, errorRate: 0.25, window: 1m, halfOpenAfter: 30s}
            maxConcurrent: 200
    """,
    "Plan": """
        apiVersion: interlink/v1
        kind: Plan
        metadata: {name: partner, owner: platform}
        spec:
          algorithm: sliding-window
          limits:
            - {requests: 20, per: 1s, burst: 10}
            - {requests: 600, per: 1m}
          quotas: {daily: 200000, monthly: 5000000}
    """,
    "Consumer": """
        apiVersion: interlink/v1
        kind: Consumer
        metadata: {name: crm-publisher, owner: sales}
        spec:
          type: internal
          plan: internal
          scopes: ["events:publish:customer.created"]
          system: crm
          contact: crm-team@example.com
    """,
    "Subscription": """
        apiVersion: interlink/v1
        kind: Subscription
        metadata: {name: analytics-customers, owner: analytics}
        spec:
          event: customer.created
          target: {system: analytics, path: /ingest/customers}
          filter: {attributes: {source: crm}, jsonata: "data.country = 'DE'"}
          ordered: true
          retry: {schedule: [5s, 1m, 1h, 1d], jitter: 0.1}
          deadLetter: false
          maxInFlight: 64
          timeout: 2s
          startAt: 2026-01-01T00:00:00Z
          secret: ${secret:analytics-webhook-secret}
    """,
    "Flow": """
        apiVersion: interlink/v1
        kind: Flow
        metadata: {name: order-to-cash, owner: finance}
        spec:
          trigger: {schedule: "*/15 8-18 * * 1-5"}
          timeout: 10m
          steps:
            - {name: once, type: idempotency, key: "orderId", window: 7d}
            - {name: paid, type: filter, condition: "status = 'paid'"}
            - {name: lines, type: split, items: "lines"}
            - name: customer
              type: enrich
              from: {api: customers-v1, path: "/customers/{customerId}"}
              into: customer
            - name: addresses
              type: enrich
              from: {dataProduct: customer-addresses, query: "SELECT 1"}
              into: address
            - name: route
              type: choice
              branches:
                - when: "country = 'DE'"
                  steps:
                    - name: book
                      type: call
                      system: erp
                      method: PUT
                      path: /invoices
                      body: "{'id': orderId}"
                      compensate: {system: erp, method: DELETE, path: /invoices/last}
              otherwise:
                - {name: export, type: publish, event: order.exported, data: "$"}
            - {name: shape, type: map, expression: "{'id': orderId}"}
    """,
    "DataProduct": """
        apiVersion: interlink/v1
        kind: DataProduct
        metadata: {name: customer-addresses, owner: sales}
        spec:
          domain: sales
          source:
            system: crm
            type: sql
            location: customers
            query: SELECT id, street, updated_at FROM customers
          contract:
            file: contracts/customers.odcs.yaml
            columns:
              - {name: id, type: string, nullable: false, description: Customer id}
              - {name: street, type: string, pii: true}
              - {name: updated_at, type: timestamp}
          freshness: {maxAge: 1h, column: updated_at}
          masking:
            - {column: street, method: partial}
            - {column: id, method: hash}
    """,
    "Monitor": """
        apiVersion: interlink/v1
        kind: Monitor
        metadata: {name: customers-latency, owner: sales}
        spec:
          target: {kind: Route, name: customers}
          type: slo
          slo: {indicator: latency, objective: 99.5, window: 7d, latencyThreshold: 300ms}
          severity: critical
          notify: [sales, platform]
    """,
    "Glossary": """
        apiVersion: interlink/v1
        kind: Glossary
        metadata: {name: sales, owner: sales}
        spec:
          terms:
            - name: Customer address
              definition: Where a customer's orders are shipped.
              owner: logistics
              synonyms: [postal address]
              classification: confidential
              pii: true
              related: [Customer]
              mappings:
                - {system: crm, table: customers, column: address}
                - {event: customer.address-updated, field: address}
                - {product: customers, column: address}
                - {api: customers-v2, field: Customer.address}
            - {name: Customer, definition: Someone who bought from us.}
    """,
    "Policy": """
        apiVersion: interlink/v1
        kind: Policy
        metadata: {name: organisation, owner: platform, description: Everyone's rules}
        spec:
          values: {eea: [DE, FR]}
          rules:
            - code: PII_IN_EEA
              description: personal data stays in the EEA
              severity: warning
              kind: Subscription
              when: $exists(spec.target.system)
              require: $lookup($estate.System, spec.target.system).spec.country in $eea
              message: delivers outside the EEA
              at: spec.target.system
    """,
}


MINIMAL = {kind: textwrap.dedent(text) for kind, text in MINIMAL.items()}
FULL = {kind: textwrap.dedent(text) for kind, text in FULL.items()}


def doc(text: str) -> dict[str, Any]:
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    return data


def validate(text: str) -> EstateObject:
    data = doc(text)
    return KINDS[data["kind"]].model_validate(data)


def test_there_are_fourteen_kinds_and_each_has_examples() -> None:
    assert len(KINDS) == 14
    assert set(KINDS) == set(MINIMAL) == set(FULL)
    for name, cls in KINDS.items():
        assert name == cls.KIND


@pytest.mark.parametrize("kind", sorted(MINIMAL))
def test_minimal_document_validates(kind: str) -> None:
    obj = validate(MINIMAL[kind])
    assert kind == obj.KIND
    assert obj.key == f"{kind}/{obj.name}"
    assert obj.metadata.owner is None
    assert obj.metadata.description == ""


@pytest.mark.parametrize("kind", sorted(FULL))
def test_full_document_validates_and_round_trips(kind: str) -> None:
    obj = validate(FULL[kind])
    assert kind == obj.KIND
    assert obj.metadata.owner is not None or kind == "Team"
    dumped = obj.model_dump(mode="json", exclude_none=True)
    assert dumped["apiVersion"] == "interlink/v1"
    again = KINDS[kind].model_validate({**dumped, "kind": kind})
    assert again == obj


def test_minimal_documents_get_sensible_defaults() -> None:
    platform = validate(MINIMAL["Platform"])
    assert isinstance(platform, Platform)
    assert platform.spec.events.backend == "embedded"
    assert platform.spec.admin.listen == "127.0.0.1:8081"
    route = validate(MINIMAL["Route"])
    assert isinstance(route, Route)
    assert route.spec.upstreams[0].weight == 100
    assert route.spec.validation.request.value == "enforce"
    assert route.spec.resilience.timeouts.read == 30.0
    sub = validate(MINIMAL["Subscription"])
    assert isinstance(sub, Subscription)
    assert sub.spec.target.path == "/"
    assert sub.spec.dead_letter is True
    assert sub.spec.retry.schedule[0] == 5.0
    plan = validate(MINIMAL["Plan"])
    assert isinstance(plan, Plan)
    assert plan.spec.limits == []


def test_full_documents_map_camel_case_onto_fields() -> None:
    route = validate(FULL["Route"])
    assert isinstance(route, Route)
    assert route.spec.resilience.timeouts.connect == 0.25
    assert route.spec.resilience.circuit_breaker.half_open_after == 30.0
    assert route.spec.upstreams[2].shadow is True
    jwt = route.spec.auth.methods[1] if route.spec.auth else None
    assert isinstance(jwt, JwtAuth)
    assert jwt.jwks_url == "https://login.example.com/.well-known/jwks.json"
    assert jwt.leeway == 60.0
    api = validate(FULL["Api"])
    assert isinstance(api, Api)
    assert api.spec.sunset == dt.date(2027, 3, 31)
    event = validate(FULL["Event"])
    assert isinstance(event, Event)
    assert event.spec.ordering_key == "customerId"
    assert event.spec.dedup_window == 600.0
    assert [s.version for s in event.spec.schemas] == [1, 2]
    sub = validate(FULL["Subscription"])
    assert isinstance(sub, Subscription)
    assert sub.spec.start_at == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert sub.spec.retry.schedule == [5.0, 60.0, 3600.0, 86400.0]
    flow = validate(FULL["Flow"])
    assert isinstance(flow, Flow)
    names = [step.name for step in iter_steps(flow.spec.steps)]
    assert names == [
        "once",
        "paid",
        "lines",
        "customer",
        "addresses",
        "route",
        "book",
        "export",
        "shape",
    ]
    choice = flow.spec.steps[5]
    assert isinstance(choice, ChoiceStep)
    book = choice.branches[0].steps[0]
    assert isinstance(book, CallStep)
    assert book.compensate is not None
    assert book.compensate.method == "DELETE"
    enrich = flow.spec.steps[4]
    assert isinstance(enrich, EnrichStep)
    assert enrich.source.data_product == "customer-addresses"
    product = validate(FULL["DataProduct"])
    assert isinstance(product, DataProduct)
    assert product.spec.freshness is not None
    assert product.spec.freshness.max_age == 3600.0
    monitor = validate(FULL["Monitor"])
    assert isinstance(monitor, Monitor)
    assert monitor.spec.slo is not None
    assert monitor.spec.slo.latency_threshold == 0.3
    consumer = validate(FULL["Consumer"])
    assert isinstance(consumer, Consumer)
    assert consumer.spec.type.value == "internal"
    system = validate(FULL["System"])
    assert isinstance(system, System)
    assert system.spec.credentials is not None
    assert system.spec.credentials.scheme.value == "bearer"  # a bare reference is a token
    assert system.spec.credentials.token == "${secret:crm-legacy-token}"
    team = validate(FULL["Team"])
    assert isinstance(team, Team)
    assert [c.type.value for c in team.spec.channels] == ["email", "webhook", "chat"]


def test_durations_serialise_back_to_their_short_form() -> None:
    route = validate(FULL["Route"])
    dumped = route.model_dump(mode="json")
    assert dumped["spec"]["resilience"]["timeouts"] == {"connect": "250ms", "read": "5s"}
    assert dumped["spec"]["resilience"]["circuitBreaker"]["window"] == "1m"


# --- validators ------------------------------------------------------------------------------


def invalid(text: str, *replacements: tuple[str, str]) -> str:
    """The first error message of validating ``text`` after ``replacements``."""
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new)
    with pytest.raises(ValidationError) as info:
        validate(text)
    return str(info.value)


def test_secret_ref_refuses_a_literal_secret() -> None:
    message = invalid(FULL["System"], ("${secret:crm-legacy-token}", "hunter2"))
    assert "spec.credentials" in message
    assert "must be a reference like ${secret:NAME} or ${env:NAME}, never the secret itself" in (
        message
    )
    message = invalid(FULL["Subscription"], ("${secret:analytics-webhook-secret}", "whsec_abc"))
    assert "never the secret itself" in message


def test_secret_ref_accepts_env_and_secret_references_only_whole() -> None:
    text = FULL["System"].replace("${secret:crm-legacy-token}", "${env:CRM_TOKEN}")
    assert isinstance(validate(text), System)
    message = invalid(FULL["System"], ("${secret:crm-legacy-token}", "Bearer ${env:CRM_TOKEN}"))
    assert "never the secret itself" in message


CREDENTIALS = "credentials: ${secret:crm-legacy-token}"
OAUTH2 = "tokenUrl: 'https://login.example.com/token', clientId: interlink"


@pytest.mark.parametrize(
    "shape",
    [
        "{scheme: bearer, token: '${secret:t}'}",
        "{scheme: basic, username: interlink, password: '${secret:p}'}",
        "{scheme: basic, username: '${env:CRM_USER}', password: '${env:CRM_PASSWORD}'}",
        "{scheme: header, name: X-Api-Key, value: '${secret:k}'}",
        "{scheme: query, name: api_key, value: '${secret:k}'}",
        "{scheme: oauth2, tokenUrl: 'https://login.example.com/token', clientId: interlink, "
        "clientSecret: '${secret:c}', clientAuth: client_secret_post, scopes: [a, 'b:read']}",
        "{scheme: oauth2, tokenUrl: 'http://127.0.0.1:9000/token', clientId: '${env:ID}', "
        "privateKey: '${secret:pem}', keyId: k1, audience: 'https://api.example.com'}",
    ],
)
def test_system_credentials_take_five_schemes(shape: str) -> None:
    system = validate(FULL["System"].replace(CREDENTIALS, f"credentials: {shape}"))
    assert isinstance(system, System)
    assert system.spec.credentials is not None
    assert system.spec.credentials.scheme.value in shape


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("{scheme: bearer, token: hunter2}", "never the secret itself"),
        ("{scheme: basic, username: u, password: hunter2}", "never the secret itself"),
        ("{scheme: header, name: X-Api-Key, value: hunter2}", "never the secret itself"),
        ("{scheme: query, name: api_key, value: hunter2}", "never the secret itself"),
        ("{scheme: bearer}", "scheme bearer needs token"),
        ("{scheme: basic, password: '${secret:p}'}", "scheme basic needs username"),
        ("{scheme: header, value: '${secret:k}'}", "scheme header needs name"),
        ("{scheme: bearer, token: '${secret:t}', name: x}", "scheme bearer takes no name"),
        ("{scheme: basic, username: 'a:b', password: '${secret:p}'}", "must not hold ':'"),
        ("{scheme: header, name: 'X Key', value: '${secret:k}'}", "not a header name"),
        ("{scheme: header, name: Host, value: '${secret:k}'}", "the gateway sets Host itself"),
        ("{scheme: query, name: 'a&b', value: '${secret:k}'}", "not a query parameter name"),
        ("{scheme: digest, token: '${secret:t}'}", "bearer"),
        ("{scheme: oauth2, clientId: i, clientSecret: '${secret:c}'}", "needs tokenUrl"),
        (f"{{scheme: oauth2, {OAUTH2}}}", "takes clientSecret or privateKey: one of them"),
        (
            f"{{scheme: oauth2, {OAUTH2}, clientSecret: '${{secret:c}}', "
            "privateKey: '${secret:k}'}",
            "takes clientSecret or privateKey: one of them",
        ),
        (f"{{scheme: oauth2, {OAUTH2}, clientSecret: hunter2}}", "never the secret itself"),
        (
            "{scheme: oauth2, tokenUrl: 'http://login.example.com/token', clientId: i, "
            "clientSecret: '${secret:c}'}",
            "must be https (http only to a loopback address)",
        ),
        (
            f"{{scheme: oauth2, {OAUTH2}, privateKey: '${{secret:k}}', "
            "clientAuth: client_secret_post}",
            "clientAuth client_secret_post needs clientSecret",
        ),
        (
            f"{{scheme: oauth2, {OAUTH2}, clientSecret: '${{secret:c}}', keyId: k}}",
            "keyId names the key of privateKey",
        ),
        (
            f"{{scheme: oauth2, {OAUTH2}, clientSecret: '${{secret:c}}', scopes: ['a b']}}",
            "is not an OAuth scope",
        ),
        ("{scheme: bearer, token: '${secret:t}', scopes: [a]}", "scheme bearer takes no scopes"),
    ],
)
def test_system_credentials_refuse_what_cannot_work(shape: str, message: str) -> None:
    found = invalid(FULL["System"], (CREDENTIALS, f"credentials: {shape}"))
    assert "spec.credentials" in found
    assert message in found


def test_breaker_failure_statuses_are_error_statuses() -> None:
    breaker = "{consecutiveFailures: 10, errorRate: 0.25, window: 1m, halfOpenAfter: 30s"
    route = validate(FULL["Route"].replace(breaker, breaker + ", failureStatuses: [502, 429]"))
    assert isinstance(route, Route)
    assert route.spec.resilience.circuit_breaker.failure_statuses == [502, 429]
    assert validate(FULL["Route"]).spec.resilience.circuit_breaker.failure_statuses == [
        500,
        502,
        503,
        504,
    ]
    message = invalid(FULL["Route"], (breaker, breaker + ", failureStatuses: [500, 200]"))
    assert "failure statuses are 4xx or 5xx codes, got 200" in message


def test_http_url_refuses_a_password() -> None:
    message = invalid(
        FULL["System"],
        ("https://crm-legacy.internal:8443/api", "https://admin:s3cret@crm-legacy.internal/api"),
    )
    assert "a URL must not carry a password; use a ${secret:NAME} reference" in message


@pytest.mark.parametrize("url", ["ftp://crm.internal/", "crm.internal", "https://", "/api"])
def test_http_url_needs_http_or_https_and_a_host(url: str) -> None:
    message = invalid(FULL["System"], ("https://crm-legacy.internal:8443/api", url))
    assert "expected an http(s) URL" in message


def test_http_url_may_be_a_reference() -> None:
    text = FULL["System"].replace("https://crm-legacy.internal:8443/api", "${env:CRM_URL}/api")
    system = validate(text)
    assert isinstance(system, System)
    assert system.spec.base_url == "${env:CRM_URL}/api"


def test_route_needs_a_primary_upstream_or_publish() -> None:
    message = invalid(MINIMAL["Route"], ("upstreams: [{system: crm}]", "upstreams: []"))
    assert "a route needs at least one non-shadow upstream, or 'publish'" in message
    message = invalid(
        MINIMAL["Route"], ("upstreams: [{system: crm}]", "upstreams: [{system: crm, shadow: true}]")
    )
    assert "a route needs at least one non-shadow upstream, or 'publish'" in message


def test_route_may_publish_an_event_instead() -> None:
    route = validate(MINIMAL["Route"].replace("upstreams: [{system: crm}]", "publish: {event: x}"))
    assert isinstance(route, Route)
    assert route.spec.publish is not None
    message = invalid(
        MINIMAL["Route"],
        ("upstreams: [{system: crm}]", "upstreams: [{system: crm}]\n  publish: {event: x}"),
    )
    assert "either publishes an event or proxies to upstreams, not both" in message


def test_route_may_start_a_flow_instead() -> None:
    route = validate(
        MINIMAL["Route"].replace("upstreams: [{system: crm}]", "flow: quote\n  flowTimeout: 2s")
    )
    assert isinstance(route, Route)
    assert (route.spec.flow, route.spec.flow_timeout) == ("quote", 2.0)
    for other in ("upstreams: [{system: crm}]", "publish: {event: x}"):
        message = invalid(
            MINIMAL["Route"], ("upstreams: [{system: crm}]", f"{other}\n  flow: quote")
        )
        assert "a route starts a flow, publishes an event or proxies: one only" in message
    message = invalid(
        MINIMAL["Route"], ("upstreams: [{system: crm}]", "flow: quote\n  flowTimeout: 0s")
    )
    assert "spec.flowTimeout" in message


def test_flow_timeout_belongs_to_a_flow_route() -> None:
    message = invalid(
        MINIMAL["Route"],
        ("upstreams: [{system: crm}]", "upstreams: [{system: crm}]\n  flowTimeout: 2s"),
    )
    assert "flowTimeout applies only to a route that starts a flow" in message


def test_route_weights_must_not_add_up_to_zero() -> None:
    message = invalid(
        MINIMAL["Route"],
        ("[{system: crm}]", "[{system: crm, weight: 0}, {system: erp, weight: 0}]"),
    )
    assert "upstream weights add up to 0: no request could be routed" in message


def test_route_allows_one_shadow_only() -> None:
    message = invalid(
        MINIMAL["Route"],
        (
            "[{system: crm}]",
            "[{system: crm}, {system: a, shadow: true}, {system: b, shadow: true}]",
        ),
    )
    assert "at most one shadow upstream" in message


def test_validation_off_may_be_written_bare() -> None:
    # YAML 1.1 reads a bare `off` as false; it still means "off" here
    route = validate(MINIMAL["Route"] + "  validation: {request: off, response: off}\n")
    assert isinstance(route, Route)
    assert route.spec.validation.request.value == "off"
    assert route.spec.validation.response.value == "off"
    message = invalid(MINIMAL["Route"] + "  validation: {request: on}\n")
    assert "spec.validation.request" in message


def test_route_match_path_and_host_are_checked() -> None:
    assert "spec.match.path" in invalid(MINIMAL["Route"], ("/api/customers", "api/customers"))
    assert "spec.match.methods.0" in invalid(
        MINIMAL["Route"], ("{path: /api/customers}", "{path: /api/customers, methods: [FETCH]}")
    )
    assert "spec.match.host" in invalid(
        MINIMAL["Route"], ("{path: /api/customers}", "{path: /api/customers, host: 'a b'}")
    )
    route = validate(
        MINIMAL["Route"].replace("{path: /api/customers}", "{path: /c, host: '*.example.com:8443'}")
    )
    assert isinstance(route, Route)


def jwt_route(settings: str) -> str:
    """The minimal Route with one JWT auth method carrying ``settings``."""
    method = f"{{type: jwt, issuer: https://login.example.com, {settings}}}"
    return MINIMAL["Route"] + f"  auth:\n    methods:\n      - {method}\n"


def test_jwt_hs256_needs_a_secret() -> None:
    message = invalid(jwt_route("algorithms: [HS256]"))
    assert "HS256 needs 'secret' (a ${secret:…} reference)" in message


def test_jwt_secret_must_be_a_reference() -> None:
    message = invalid(jwt_route("algorithms: [HS256], secret: changeme"))
    assert "never the secret itself" in message


@pytest.mark.parametrize("algorithms", ["[RS256]", "[ES256]", "[HS256, RS256]"])
def test_jwt_rs256_and_es256_need_a_jwks_url(algorithms: str) -> None:
    message = invalid(jwt_route(f'algorithms: {algorithms}, secret: "${{secret:k}}"'))
    assert "RS256/ES256 need 'jwksUrl'" in message


def test_jwt_defaults_to_rs256() -> None:
    assert "RS256/ES256 need 'jwksUrl'" in invalid(jwt_route("audiences: [a]"))


@pytest.mark.parametrize(
    "settings",
    [
        "algorithms: [HS256], secret: '${secret:jwt-key}'",
        "algorithms: [HS256], secret: '${env:JWT_KEY}'",
        "jwksUrl: https://login.example.com/jwks",
    ],
)
def test_jwt_with_its_keys_validates(settings: str) -> None:
    route = validate(jwt_route(settings))
    assert isinstance(route, Route)
    assert route.spec.auth is not None
    assert isinstance(route.spec.auth.methods[0], JwtAuth)


@pytest.mark.parametrize(
    "trigger",
    [
        "{}",
        "{manual: false}",
        "{event: order.created, manual: true}",
        "{event: order.created, schedule: '0 * * * *'}",
    ],
)
def test_flow_trigger_is_exactly_one_of_event_schedule_manual(trigger: str) -> None:
    message = invalid(MINIMAL["Flow"], ("{manual: true}", trigger))
    assert "a trigger is exactly one of: event, schedule, manual" in message


@pytest.mark.parametrize("trigger", ["{event: order.created}", "{schedule: '0 3 * * *'}"])
def test_flow_trigger_event_or_schedule_validates(trigger: str) -> None:
    assert isinstance(validate(MINIMAL["Flow"].replace("{manual: true}", trigger)), Flow)


@pytest.mark.parametrize(
    ("schedule", "reason"),
    [
        ("every day", "Wrong number of fields"),
        ("61 * * * *", "Bad minute"),
        ("* * * *", "Wrong number of fields"),
        ("0 25 * * *", "Bad hour"),
    ],
)
def test_flow_schedule_must_be_cron(schedule: str, reason: str) -> None:
    message = invalid(MINIMAL["Flow"], ("{manual: true}", f"{{schedule: '{schedule}'}}"))
    assert "spec.trigger.schedule" in message
    assert f"not a cron expression ({reason}): '{schedule}'" in message


@pytest.mark.parametrize("schedule", ["0 3 * * MON-FRI", "0 0 L * *", "*/5 * * * *"])
def test_flow_schedule_takes_what_cronsim_reads(schedule: str) -> None:
    assert isinstance(
        validate(MINIMAL["Flow"].replace("{manual: true}", f"{{schedule: '{schedule}'}}")), Flow
    )


def test_flow_schedule_has_an_optional_iana_time_zone() -> None:
    flow = validate(
        MINIMAL["Flow"].replace(
            "{manual: true}", "{schedule: '0 3 * * *', timezone: Europe/Berlin}"
        )
    )
    assert isinstance(flow, Flow)
    assert flow.spec.trigger is not None
    assert flow.spec.trigger.timezone == "Europe/Berlin"
    message = invalid(
        MINIMAL["Flow"], ("{manual: true}", "{schedule: '0 3 * * *', timezone: Europe/Berln}")
    )
    assert "spec.trigger.timezone" in message
    assert "not an IANA time zone: 'Europe/Berln'" in message


def test_a_time_zone_needs_a_schedule() -> None:
    message = invalid(MINIMAL["Flow"], ("{manual: true}", "{manual: true, timezone: UTC}"))
    assert "a trigger's timezone applies to its schedule only" in message


def test_a_schedule_says_what_becomes_of_missed_and_overlapping_due_times() -> None:
    flow = validate(
        MINIMAL["Flow"].replace(
            "{manual: true}", "{schedule: '0 3 * * *', missed: catchUp, disallowConcurrent: true}"
        )
    )
    assert isinstance(flow, Flow)
    assert flow.spec.trigger is not None
    assert flow.spec.trigger.missed == "catchUp"
    assert flow.spec.trigger.disallow_concurrent
    message = invalid(MINIMAL["Flow"], ("{manual: true}", "{schedule: '0 3 * * *', missed: all}"))
    assert "spec.trigger.missed" in message
    for extra in ("missed: skip", "disallowConcurrent: true"):
        message = invalid(MINIMAL["Flow"], ("{manual: true}", f"{{manual: true, {extra}}}"))
        assert "missed and disallowConcurrent apply to its schedule only" in message


def test_a_flow_fed_by_subscriptions_needs_no_trigger() -> None:
    flow = validate(MINIMAL["Flow"].replace("  trigger: {manual: true}\n", ""))
    assert isinstance(flow, Flow)
    assert flow.spec.trigger is None


def test_flow_step_type_must_be_known() -> None:
    message = invalid(MINIMAL["Flow"], ("type: map", "type: mapp"))
    assert "mapp" in message


def test_flow_enrich_needs_exactly_one_source_and_a_path_for_apis() -> None:
    message = invalid(
        FULL["Flow"],
        ('{api: customers-v1, path: "/customers/{customerId}"}', "{api: customers-v1}"),
    )
    assert "enrich from an api needs 'path'" in message
    message = invalid(
        FULL["Flow"],
        ('{api: customers-v1, path: "/customers/{customerId}"}', "{path: /customers}"),
    )
    assert "enrich from exactly one of: api, dataProduct" in message


@pytest.mark.parametrize(
    ("kind", "block", "expected"),
    [
        ("slo", "", "a slo monitor needs its 'slo' settings"),
        ("freshness", "anomaly: {}", "a freshness monitor needs its 'freshness' settings"),
        ("anomaly", "anomaly: {}\n  slo: {objective: 99}", "'slo' settings do not apply"),
    ],
)
def test_monitor_type_needs_its_block(kind: str, block: str, expected: str) -> None:
    message = invalid(
        MINIMAL["Monitor"], ("type: anomaly", f"type: {kind}"), ("anomaly: {}", block)
    )
    assert expected in message


def test_monitor_latency_slo_needs_a_threshold() -> None:
    message = invalid(FULL["Monitor"], (", latencyThreshold: 300ms", ""))
    assert "a latency SLO needs 'latencyThreshold'" in message


def test_monitor_objective_is_a_percentage() -> None:
    assert "spec.slo.objective" in invalid(FULL["Monitor"], ("objective: 99.5", "objective: 100"))


@pytest.mark.parametrize("versions", [(2, 1), (1, 1), (1, 3, 2)])
def test_event_schema_versions_are_increasing(versions: tuple[int, ...]) -> None:
    schemas = ", ".join(f"{{version: {v}, file: v{i}.json}}" for i, v in enumerate(versions))
    message = invalid(
        MINIMAL["Event"], ("[{version: 1, file: customer.created.v1.json}]", f"[{schemas}]")
    )
    assert "schema versions must be listed once each, in increasing order" in message


def test_event_needs_a_schema() -> None:
    message = invalid(MINIMAL["Event"], ("[{version: 1, file: customer.created.v1.json}]", "[]"))
    assert "spec.schemas" in message


@pytest.mark.parametrize("path", ["/etc/schema.json", "C:\\schemas\\x.json", "", "a\0b.json"])
def test_contract_paths_are_relative(path: str) -> None:
    text = MINIMAL["Api"].replace("contracts/customers.yaml", "PATH")
    data = doc(text)
    data["spec"]["contract"] = path
    with pytest.raises(ValidationError, match="expected a path relative to the file that names"):
        Api.model_validate(data)


@pytest.mark.parametrize("name", ["CRM", "crm_legacy", "-crm", "crm-", "a" * 254, "crm legacy"])
def test_names_are_lower_case_dns_like(name: str) -> None:
    data = doc(MINIMAL["System"])
    data["metadata"]["name"] = name
    with pytest.raises(ValidationError, match=r"metadata\.name"):
        System.model_validate(data)


def test_unknown_fields_are_refused() -> None:
    message = invalid(MINIMAL["System"], ("{domain: sales}", "{domain: sales, baseURL: x}"))
    assert "Extra inputs are not permitted" in message


def test_subscription_target_is_exactly_one_of_system_flow_handler() -> None:
    message = invalid(MINIMAL["Subscription"], ("{system: erp}", "{system: erp, flow: sync}"))
    assert "a target names exactly one of: system, flow, handler" in message
    message = invalid(MINIMAL["Subscription"], ("{system: erp}", "{path: /hooks}"))
    assert "a target names exactly one of: system, flow, handler" in message


def test_team_channels_need_an_address_or_url() -> None:
    message = invalid(FULL["Team"], ("to: sales@example.com", "to: sales"))
    assert "an email channel needs an address" in message
    message = invalid(FULL["Team"], ('"https://hooks.example.com/sales"', "hooks.example.com"))
    assert "a webhook channel needs an http(s) URL or reference" in message


@pytest.mark.parametrize("listen", ["8080", "localhost:http", ":8080", "host:70000"])
def test_platform_listen_address_is_host_port(listen: str) -> None:
    message = invalid(FULL["Platform"], ("listen: 127.0.0.1:9000", f"listen: '{listen}'"))
    assert "expected HOST:PORT" in message


def test_platform_flow_history_settings_are_bounded_and_ordered() -> None:
    message = invalid(
        FULL["Platform"], ("inlinePayloadBytes: 32768", "inlinePayloadBytes: 9999999")
    )
    assert "inlinePayloadBytes is larger than maxPayloadBytes" in message
    message = invalid(FULL["Platform"], ("retention: 14d", "retention: 30s"))
    assert "spec.flows.retention" in message


def test_data_contract_lists_columns_or_names_a_file_and_no_column_twice() -> None:
    message = invalid(MINIMAL["DataProduct"], ("columns: [{name: id, type: string}]", "{}"))
    assert "a contract lists columns or names a contract file" in message
    message = invalid(
        MINIMAL["DataProduct"],
        ("[{name: id, type: string}]", "[{name: id, type: string}, {name: id, type: integer}]"),
    )
    assert "column listed twice: id" in message


@pytest.mark.parametrize(
    ("mapping", "expected"),
    [
        ("{system: crm, event: e, field: a}", "exactly one of system, event, product or api"),
        ("{column: address}", "exactly one of system, event, product or api"),
        ("{system: crm, column: address}", "a system mapping needs table"),
        ("{event: customer.address-updated}", "an? event mapping needs field"),
        ("{product: customers, field: address}", "a product mapping needs column"),
        ("{api: customers-v2, field: A, column: b}", "an? api mapping has no column"),
    ],
)
def test_a_term_mapping_names_one_place_whole(mapping: str, expected: str) -> None:
    message = invalid(FULL["Glossary"], ("{product: customers, column: address}", mapping))
    assert re.search(expected, message)


def test_a_glossary_lists_each_term_once_whatever_its_case() -> None:
    message = invalid(
        MINIMAL["Glossary"], ("terms: [", "terms: [{name: CUSTOMER, definition: Twice.}, ")
    )
    assert "term listed twice: CUSTOMER, Customer" in message
    message = invalid(MINIMAL["Glossary"], ("name: Customer", "name: '--'"))
    assert "a term's name has a letter or a digit" in message
    glossary = validate(FULL["Glossary"])
    term = glossary.spec.terms[0]
    assert term.slug == "customer-address"
    assert [m.render() for m in term.mappings] == [
        "System/crm customers.address",
        "Event/customer.address-updated address",
        "DataProduct/customers address",
        "Api/customers-v2 Customer.address",
    ]


def test_plan_limits_must_be_positive() -> None:
    assert "spec.limits.0.requests" in invalid(FULL["Plan"], ("requests: 20,", "requests: 0,"))
    assert "spec.limits.0.per" in invalid(FULL["Plan"], ("per: 1s,", "per: 0s,"))


# --- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25),
        ("5s", 5.0),
        ("10m", 600.0),
        ("2h", 7200.0),
        ("1d", 86400.0),
        ("1w", 604800.0),
        ("1.5s", 1.5),
        (" 5 s ", 5.0),
        (3, 3.0),
        (0.5, 0.5),
        (0, 0.0),
    ],
)
def test_parse_duration(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    "value",
    [
        "5",
        "5 sec",
        "-5s",
        "",
        "ms",
        "1e3s",
        "5S",
        "1h30m",
        True,
        None,
        -1,
        [],
        math.inf,
        math.nan,
        10**400,
        "9" * 400 + "s",
    ],
)
def test_parse_duration_refuses(value: object) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(value)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.25, "250ms"),
        (5.0, "5s"),
        (600.0, "10m"),
        (7200.0, "2h"),
        (86400.0, "1d"),
        (604800.0, "1w"),
        (90.0, "90s"),
        (0.0, "0ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["5 seconds", "-1s", ".inf", ".nan"])
def test_duration_fields_refuse_bad_values(bad: str) -> None:
    message = invalid(FULL["Subscription"], ("timeout: 2s", f"timeout: {bad}"))
    assert "spec.timeout" in message


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("code: PII_IN_EEA", "is not in capitals"),
        ("at: spec.target.system", "String should match pattern"),
        ("values: {eea: [DE, FR]}", "value name 'key' is reserved"),
        ("severity: warning", "Input should be 'error' or 'warning'"),
    ],
)
def test_a_policy_refuses_bad_rules(change: str, message: str) -> None:
    bad = {
        "code: PII_IN_EEA": "code: pii-in-eea",
        "at: spec.target.system": "at: spec..target",
        "values: {eea: [DE, FR]}": "values: {key: 1}",
        "severity: warning": "severity: info",
    }[change]
    with pytest.raises(ValidationError, match=re.escape(message)):
        validate(FULL["Policy"].replace(change, bad))


def _public_pem(curve: Any) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(curve).public_key()
    data = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode()


def test_a_consumer_declares_the_key_of_its_client_assertions() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    from interlink.estate.kinds.gateway import PrivateKeyJwtCredential

    contact = "contact: crm-team@example.com"
    pem = json.dumps(_public_pem(ec.SECP256R1()))
    for given in (f"{{type: private_key_jwt, publicKey: {pem}}}", JWKS_CREDENTIAL):
        consumer = validate(
            FULL["Consumer"].replace(contact, f"{contact}\n{INDENT}credentials: [{given}]")
        )
        assert isinstance(consumer, Consumer)
        assert isinstance(consumer.spec.credentials[0], PrivateKeyJwtCredential)
    cases = {
        "{type: private_key_jwt}": "takes publicKey or jwksUrl: one of them",
        "{type: private_key_jwt, publicKey: nope}": "not a PEM public key",
        f"{{type: private_key_jwt, publicKey: {json.dumps(_public_pem(ec.SECP384R1()))}}}": (
            "neither RSA of 2048 bits or more nor EC P-256"
        ),
    }
    for given, message in cases.items():
        found = invalid(FULL["Consumer"], (contact, f"{contact}\n{INDENT}credentials: [{given}]"))
        assert message in found


INDENT = "  "  # as FULL["Consumer"] indents its spec
JWKS_CREDENTIAL = "{type: private_key_jwt, jwksUrl: 'https://partner.example.com/jwks.json'}"
