"""Route, Plan and Consumer: what the gateway exposes, to whom, and how much."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, Field, field_validator, model_validator

from interlink.estate.durations import Duration
from interlink.estate.kinds.base import EstateObject, HttpUrl, Model, Name, SecretRef
from interlink.estate.kinds.tls import MtlsCredential

HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
Method = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class Match(Model):
    path: str = Field(
        pattern=r"^/[^\s?#]*$",
        description="a prefix (/customers) or a template (/customers/{id}); longest wins",
    )
    host: str | None = Field(default=None, pattern=r"^(\*\.)?[A-Za-z0-9.-]+(:\d+)?$")
    methods: list[Method] | None = None


class Rewrite(Model):
    path: str = Field(pattern=r"^/[^\s?#]*$", description="replaces the matched path prefix")


class Upstream(Model):
    system: Name
    path: str = Field(default="", pattern=r"^(/[^\s?#]*)?$", description="prefix on the system")
    weight: int = Field(default=100, ge=0, le=1000)
    shadow: bool = Field(default=False, description="receives a copy; its answer is only compared")


Algorithm = Literal["HS256", "RS256", "ES256"]


class ApiKeyAuth(Model):
    type: Literal["apiKey"]
    header: str = "X-Api-Key"
    query: str | None = None


class JwtAuth(Model):
    type: Literal["jwt"]
    issuer: str
    audiences: list[str] = Field(default_factory=list)
    algorithms: list[Algorithm] = Field(default_factory=lambda: list[Algorithm](["RS256"]))
    jwks_url: HttpUrl | None = None
    discovery: bool = Field(
        default=False,
        description="find the keys through the issuer's /.well-known/openid-configuration "
        "(its jwks_uri) instead of jwksUrl; the issuer is then an http(s) URL",
    )
    secret: SecretRef | None = Field(default=None, description="HS256 shared secret reference")
    leeway: Duration = 30.0
    consumer_claim: str = Field(default="sub", description="claim naming the Consumer")

    @model_validator(mode="after")
    def _keys(self) -> JwtAuth:
        if "HS256" in self.algorithms and self.secret is None:
            raise ValueError("HS256 needs 'secret' (a ${secret:…} reference)")
        if self.discovery:
            if self.jwks_url is not None:
                raise ValueError("give 'jwksUrl' or 'discovery: true', not both")
            if not self.issuer.startswith(("https://", "http://")):
                raise ValueError("'discovery: true' needs an http(s) URL as 'issuer'")
        public = {"RS256", "ES256"} & set(self.algorithms)
        if public and self.jwks_url is None and not self.discovery:
            raise ValueError("RS256/ES256 need 'jwksUrl' or 'discovery: true'")
        if not public and self.discovery:
            raise ValueError("'discovery: true' finds RS256/ES256 keys: list one in 'algorithms'")
        return self


class MtlsAuth(Model):
    """The client certificate the listener verified (Platform ``gateway.tls.clientCa``), mapped
    to the Consumer that declares it (``credentials`` of type mtls)."""

    type: Literal["mtls"]


class OAuth2Auth(Model):
    """Access tokens the gateway issued itself (Platform gateway.oauth), checked in-process."""

    type: Literal["oauth2"]


class IntrospectionAuth(Model):
    """Opaque bearer tokens of an identity provider, checked by token introspection (RFC 7662)."""

    type: Literal["introspection"]
    url: HttpUrl = Field(description="the provider's introspection endpoint")
    client_id: str = Field(min_length=1, description="the gateway's client id at the provider")
    client_secret: SecretRef = Field(description="its client secret (a ${secret:…} reference)")
    consumer_claim: str = Field(
        default="client_id", description="the answer's member naming the Consumer"
    )
    cache: Duration = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="how long an active answer is reused (never past the token's exp)",
    )


AuthMethod = Annotated[
    ApiKeyAuth | JwtAuth | MtlsAuth | OAuth2Auth | IntrospectionAuth, Field(discriminator="type")
]


class Auth(Model):
    methods: list[AuthMethod] = Field(min_length=1, description="any one of them admits a caller")
    scopes: list[str] = Field(default_factory=list, description="all are required")


class RequestValidation(StrEnum):
    OFF = "off"
    ENFORCE = "enforce"


class ResponseValidation(StrEnum):
    OFF = "off"
    RECORD = "record"


class Validation(Model):
    request: RequestValidation = RequestValidation.ENFORCE
    response: ResponseValidation = ResponseValidation.OFF

    @field_validator("request", "response", mode="before")
    @classmethod
    def _bare_off(cls, value: object) -> object:
        return "off" if value is False else value  # YAML 1.1 reads a bare `off` as false


class Timeouts(Model):
    connect: Duration = 2.0
    read: Duration = 30.0


class Retries(Model):
    attempts: int = Field(default=2, ge=0, le=10)
    backoff: Duration = 0.1


class CircuitBreaker(Model):
    consecutive_failures: int = Field(default=5, ge=1)
    error_rate: float = Field(default=0.5, gt=0, le=1)
    window: Duration = 30.0
    half_open_after: Duration = 10.0
    failure_statuses: list[int] = Field(
        default_factory=lambda: [500, 502, 503, 504],
        description="upstream answers that count as failures; connection errors and "
        "timeouts always do",
    )

    @field_validator("failure_statuses")
    @classmethod
    def _statuses(cls, value: list[int]) -> list[int]:
        wrong = [s for s in value if not 400 <= s <= 599]
        if wrong:
            raise ValueError(f"failure statuses are 4xx or 5xx codes, got {wrong[0]}")
        return value


class Resilience(Model):
    timeouts: Timeouts = Field(default_factory=Timeouts)
    retries: Retries = Field(default_factory=Retries)
    circuit_breaker: CircuitBreaker = Field(default_factory=CircuitBreaker)
    max_concurrent: int | None = Field(default=None, ge=1, description="bulkhead size")


class Compare(Model):
    ignore: list[str] = Field(default_factory=list, description="JSON pointers left out")


class Publish(Model):
    event: Name = Field(description="the validated request body is published as this event")


FLOW_TIMEOUT: Final = 5.0  # seconds a flow route waits for its run by default


class RouteSpec(Model):
    api: Name | None = Field(default=None, description="the Api whose contract this route serves")
    match: Match
    rewrite: Rewrite | None = None
    upstreams: list[Upstream] = Field(default_factory=list)
    sticky: bool = Field(default=True, description="one consumer always hits the same upstream")
    compare: Compare = Field(default_factory=Compare)
    auth: Auth | None = None
    group: str | None = Field(default=None, description="rate-limit group; default: route name")
    validation: Validation = Field(default_factory=Validation)
    resilience: Resilience = Field(default_factory=Resilience)
    publish: Publish | None = None
    flow: Name | None = Field(
        default=None,
        description="start a run of this Flow with the JSON request body as its input, and "
        "answer with its result (a process API)",
    )
    product: Name | None = Field(
        default=None,
        description="serve this DataProduct: queries at the route's path (JSON, CSV, Parquet, "
        "Arrow by Accept) and read-only SQL at <path>/sql ([products](products.md#serving))",
    )
    flow_timeout: Duration = Field(
        default=FLOW_TIMEOUT,
        gt=0,
        description="how long a flow route waits for the run to end before it answers 202 "
        "with where to follow it",
    )

    @model_validator(mode="after")
    def _targets(self) -> RouteSpec:
        primary = [u for u in self.upstreams if not u.shadow]
        if self.product is not None:
            if self.upstreams or self.publish is not None or self.flow is not None:
                raise ValueError("a route serves a product, starts a flow, publishes or proxies")
            if self.flow_timeout != FLOW_TIMEOUT:
                raise ValueError("flowTimeout applies only to a route that starts a flow")
            return self
        if self.flow is not None:
            if self.upstreams or self.publish is not None:
                raise ValueError("a route starts a flow, publishes an event or proxies: one only")
            return self
        if self.flow_timeout != FLOW_TIMEOUT:  # a dumped default may come back: not an error
            raise ValueError("flowTimeout applies only to a route that starts a flow")
        if self.publish is None and not primary:
            raise ValueError("a route needs at least one non-shadow upstream, or 'publish'")
        if self.publish is not None and self.upstreams:
            raise ValueError("a route either publishes an event or proxies to upstreams, not both")
        if primary and sum(u.weight for u in primary) == 0:
            raise ValueError("upstream weights add up to 0: no request could be routed")
        if sum(1 for u in self.upstreams if u.shadow) > 1:
            raise ValueError("at most one shadow upstream")
        return self


class Route(EstateObject):
    KIND = "Route"
    kind: Literal["Route"]
    spec: RouteSpec


class RateLimit(Model):
    requests: int = Field(gt=0)
    per: Duration = Field(gt=0)
    burst: int | None = Field(default=None, ge=1)


class Quotas(Model):
    daily: int | None = Field(default=None, gt=0)
    monthly: int | None = Field(default=None, gt=0)


class PlanSpec(Model):
    algorithm: Literal["gcra", "sliding-window"] = "gcra"
    limits: list[RateLimit] = Field(default_factory=list)
    quotas: Quotas = Field(default_factory=Quotas)


class Plan(EstateObject):
    KIND = "Plan"
    kind: Literal["Plan"]
    spec: PlanSpec = Field(default_factory=PlanSpec)


class ConsumerType(StrEnum):
    PARTNER = "partner"
    APP = "app"
    INTERNAL = "internal"


def _public_key(value: str) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    try:
        key = serialization.load_pem_public_key(value.encode("utf-8"))
    except (ValueError, UnicodeEncodeError):
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    if isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048:
        return value
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return value
    raise ValueError("the public key is neither RSA of 2048 bits or more nor EC P-256")


class PrivateKeyJwtCredential(Model):
    """The key a Consumer signs client assertions with at the gateway's token endpoint
    (``private_key_jwt``, RFC 7523): in place of an API key as client secret, a JWT signed with
    the Consumer's private key, checked with this public key or the keys at its JWKS URL."""

    type: Literal["private_key_jwt"]
    public_key: Annotated[str, AfterValidator(_public_key)] | None = Field(
        default=None,
        description="the public key as PEM (RSA ≥ 2048 bits for RS256, EC P-256 for ES256)",
    )
    jwks_url: HttpUrl | None = Field(
        default=None, description="where the Consumer publishes its public keys (JWKS)"
    )

    @model_validator(mode="after")
    def _one(self) -> PrivateKeyJwtCredential:
        if (self.public_key is None) == (self.jwks_url is None):
            raise ValueError("a private_key_jwt credential takes publicKey or jwksUrl: one of them")
        return self


#: The credentials a Consumer declares in the estate (API keys live in the store).
ConsumerCredential = Annotated[
    MtlsCredential | PrivateKeyJwtCredential, Field(discriminator="type")
]


class ConsumerSpec(Model):
    type: ConsumerType = ConsumerType.PARTNER
    plan: Name
    scopes: list[str] = Field(default_factory=list)
    system: Name | None = Field(default=None, description="the internal System, if it is one")
    contact: str | None = None
    credentials: list[ConsumerCredential] = Field(
        default_factory=list,
        description="client certificates (type mtls: a fingerprint or a subject) that identify "
        "this Consumer on routes with the mtls auth method, and keys it signs client "
        "assertions with at the token endpoint (type private_key_jwt); API keys are kept in "
        "the store",
    )


class Consumer(EstateObject):
    KIND = "Consumer"
    kind: Literal["Consumer"]
    spec: ConsumerSpec
