"""Platform, Team and System: who runs what, and where the platform itself listens."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from interlink.estate.durations import Duration
from interlink.estate.kinds.base import (
    Classification,
    EstateObject,
    HttpUrl,
    Model,
    Name,
    SecretRef,
)
from interlink.estate.kinds.tls import GatewayTls, SystemTls
from interlink.estate.references import has_reference

#: An ISO 3166-1 alpha-2 country code, such as DE or US.
Country = Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")]


def _listen(value: str) -> str:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected HOST:PORT, got {value!r}")
    return value


class StoreSettings(Model):
    url: str | None = Field(
        default=None,
        description="sqlite:///path or postgresql://…; default: .interlink/interlink.db "
        "beside the estate. Credentials only as ${secret:…}/${env:…} references.",
    )


class EventSettings(Model):
    backend: Literal["embedded", "nats"] = "embedded"
    url: str | None = Field(default=None, description="nats://host:port for the nats backend")
    stream_prefix: str = Field(default="interlink", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    max_payload_bytes: int = Field(default=1_048_576, gt=0, le=64 * 1_048_576)
    dedup_window: Duration = 600.0


class OAuthSettings(Model):
    """The gateway as an OAuth2 authorisation server for Consumers (client credentials)."""

    issuer: HttpUrl = Field(
        description="the tokens' iss and aud, and the base of the discovery document's URLs: "
        "the gateway's public URL, e.g. https://api.example.com"
    )
    token_lifetime: Duration = Field(default=600.0, ge=60, le=3600, description="tokens' exp")
    algorithm: Literal["ES256", "RS256"] = "ES256"
    key_rotation: Duration = Field(
        default=30 * 86400.0, ge=3600, description="a new signing key this often"
    )


class GatewaySettings(Model):
    listen: str = "0.0.0.0:8080"
    workers: int = Field(default=1, ge=1, le=64)
    max_body_bytes: int = Field(default=10 * 1_048_576, gt=0)
    max_header_bytes: int = Field(default=32_768, ge=1024)
    rate_limit_store: str | None = Field(
        default=None, description="redis://host:port to share rate limits between workers"
    )
    rate_limit_store_timeout: Duration = Field(
        default=0.2,
        gt=0,
        le=10,
        description="longest wait for the rate-limit store's answer; a slower answer is "
        "decided locally, from the last counts the store returned",
    )

    tls: GatewayTls | None = Field(
        default=None,
        description="serve HTTPS on the listener: certificates by SNI, reloaded when their "
        "files change; optional client certificates ([gateway](gateway.md#tls))",
    )
    oauth: OAuthSettings | None = Field(
        default=None,
        description="serve POST /oauth/token (client credentials), /.well-known/jwks.json and "
        "/.well-known/openid-configuration; Routes accept the tokens with auth type oauth2",
    )

    _check_listen = field_validator("listen")(_listen)


class ConsoleSettings(Model):
    """The web console (admin API, /console): its sessions, and what it may do besides
    reading: write the estate files its editor builds."""

    idle_timeout: Duration = Field(
        default=30 * 60.0,
        ge=60,
        le=86_400,
        description="a console session unused this long ends (1m to 1d); read at each sign-in "
        "and page",
    )
    session_lifetime: Duration = Field(
        default=12 * 3600.0,
        ge=300,
        le=30 * 86_400,
        description="a console session ends this long after sign-in however it is used (5m to "
        "30d, at least idleTimeout); read at each sign-in",
    )

    write_estate: bool = Field(
        default=False,
        description="let the console's editor write the YAML file it built into the estate "
        "directory (platform-wide admin tokens only, audited as estate.write, refused while "
        "`check` finds errors); false: it offers the file to download instead",
    )
    git_changes: bool = Field(
        default=False,
        description="with writeEstate: instead of writing into the estate directory, commit "
        "the file on a new branch (interlink/console/TOKEN/FILE-COMMIT) of the git repository "
        "holding it, its working tree untouched, for review and merge",
    )

    @model_validator(mode="after")
    def _idle_within_lifetime(self) -> ConsoleSettings:
        if self.idle_timeout > self.session_lifetime:
            raise ValueError(
                f"idleTimeout ({self.idle_timeout:g}s) is longer than sessionLifetime "
                f"({self.session_lifetime:g}s): a session would never be idle long enough to end"
            )
        return self


class AdminSettings(Model):
    listen: str = "127.0.0.1:8081"

    _check_listen = field_validator("listen")(_listen)


class TelemetrySettings(Model):
    """What the platform reports of itself: Prometheus metrics and OTLP traces."""

    metrics: bool = Field(
        default=True,
        description="serve the Prometheus metrics at the admin API's /metrics; when false it "
        "answers 404 and the gateway workers are not asked for theirs",
    )
    otlp_endpoint: HttpUrl | None = Field(
        default=None,
        description="export traces over OTLP/HTTP (protobuf) to this collector, at "
        "ENDPOINT/v1/traces; unset, nothing is traced. Read when a process starts: a change "
        "takes effect at the next restart",
    )
    service_name: str = Field(
        default="interlink",
        min_length=1,
        description="the service.name of the spans' resource",
    )
    sample_ratio: float = Field(
        default=1.0,
        gt=0,
        le=1,
        description="the share of the traces that begin here which are recorded, decided by "
        "trace id alike on every node; a caller's traceparent decides for its own trace",
    )


_MIB = 1_048_576


class FlowSettings(Model):
    """How long flow run history is kept, and how large what a run keeps may be."""

    retention: Duration = Field(
        default=30 * 86_400.0,
        ge=60,
        description="how long a run that ended completed, filtered, duplicate or cancelled is "
        "kept (its steps and stored payloads with it) before the purge deletes it",
    )
    failed_retention: Duration = Field(
        default=90 * 86_400.0,
        ge=60,
        description="how long a failed or compensated run is kept: longer by default, as "
        "someone may still look into it or retry it",
    )
    inline_payload_bytes: int = Field(
        default=65_536,
        ge=1024,
        le=16 * _MIB,
        description="a run's input, a step's output or an entry of its context larger than "
        "this (as JSON) is stored apart, by reference, and loaded when needed",
    )
    max_payload_bytes: int = Field(
        default=16 * _MIB,
        ge=1024,
        le=256 * _MIB,
        description="the largest input a run starts with and the largest output a step may "
        "produce; a larger output fails its step, a larger input is refused (413) or, "
        "from an event, recorded as a failed run",
    )

    @model_validator(mode="after")
    def _ordered(self) -> FlowSettings:
        if self.inline_payload_bytes > self.max_payload_bytes:
            raise ValueError("inlinePayloadBytes is larger than maxPayloadBytes")
        return self


class AlertRenotify(Model):
    """How long a firing alert stays quiet after its owners were told, by severity."""

    info: Duration = Field(default=24 * 3600.0, ge=60)
    warning: Duration = Field(default=4 * 3600.0, ge=60)
    critical: Duration = Field(default=3600.0, ge=60)


class AlertSettings(Model):
    """Where alert mail leaves from, how often a firing alert is told again, how long history
    is kept."""

    mail: Name | None = Field(
        default=None,
        description="the System (connector smtp) alert emails are sent through; without it, "
        "email channels are recorded as not sent",
    )
    renotify: AlertRenotify = Field(default_factory=AlertRenotify)
    retention: Duration = Field(
        default=90 * 86_400.0,
        ge=3600,
        description="how long a resolved alert and its notifications are kept",
    )


class LineageSettings(Model):
    """Record-level lineage kept in the store, and job-level run events sent out."""

    retention: Duration = Field(
        default=90 * 86_400.0,
        ge=3600,
        description="how long a subject's recorded hops are kept before the purge deletes them",
    )
    open_lineage_endpoint: HttpUrl | None = Field(
        default=None,
        description="where OpenLineage run events (START, COMPLETE, FAIL of flow runs and "
        "connector syncs) are POSTed, such as http://marquez:5000/api/v1/lineage; none: "
        "not sent",
    )
    open_lineage_namespace: str = Field(
        default="interlink",
        min_length=1,
        max_length=200,
        description="the OpenLineage namespace of the jobs (the flows)",
    )


class PrivacySettings(Model):
    """The controller the record of processing names (GDPR Art. 30)."""

    controller: str | None = Field(default=None, description="the organisation's legal name")
    contact: str | None = Field(default=None, description="the controller's or DPO's contact")
    country: Country | None = Field(
        default=None,
        description="where the controller is established: Systems in another country are "
        "listed as transfers",
    )


class ProductSettings(Model):
    """Where the materialised data products' files are kept."""

    data_dir: str | None = Field(
        default=None,
        min_length=1,
        description="a directory every node shares (a shared volume: NFS, EFS, a CSI volume), "
        "absolute or relative to the estate: the node holding the product-refresh lease "
        "writes there and every node serves from there; none: each node's own "
        "(<estate>/.interlink/products, or its --state-dir). Read when serve starts",
    )


class PlatformSpec(Model):
    store: StoreSettings = Field(default_factory=StoreSettings)
    events: EventSettings = Field(default_factory=EventSettings)
    flows: FlowSettings = Field(default_factory=FlowSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    admin: AdminSettings = Field(default_factory=AdminSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    telemetry: TelemetrySettings = Field(default_factory=TelemetrySettings)
    alerts: AlertSettings = Field(default_factory=AlertSettings)
    lineage: LineageSettings = Field(default_factory=LineageSettings)
    privacy: PrivacySettings = Field(default_factory=PrivacySettings)
    products: ProductSettings = Field(default_factory=ProductSettings)


class Platform(EstateObject):
    """Where the platform keeps its state, which event backend it uses, where it listens."""

    KIND = "Platform"
    kind: Literal["Platform"]
    spec: PlatformSpec = Field(default_factory=PlatformSpec)


class Member(Model):
    name: str
    email: str | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$")
    role: str | None = None


class ChannelType(StrEnum):
    EMAIL = "email"
    WEBHOOK = "webhook"
    CHAT = "chat"


class Channel(Model):
    """Where a team is told: an email address, a webhook, or a chat webhook (Slack/Teams)."""

    type: ChannelType
    to: str = Field(description="email address or URL (URLs may be ${secret:…} references)")
    name: str | None = None
    secret: SecretRef | None = Field(
        default=None,
        description="webhook: the signing secret; each alert is signed the Standard Webhooks "
        "way (webhook-id, webhook-timestamp, webhook-signature)",
    )

    @model_validator(mode="after")
    def _target(self) -> Channel:
        if self.secret is not None and self.type is not ChannelType.WEBHOOK:
            raise ValueError(
                f"only a webhook channel is signed: a {self.type.value} takes no secret"
            )
        if self.type is ChannelType.EMAIL:
            if not re.match(r"^[^@\s]+@[^@\s]+$", self.to):
                raise ValueError(f"an email channel needs an address, got {self.to!r}")
        elif not has_reference(self.to):
            parts = urlsplit(self.to)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ValueError(f"a {self.type.value} channel needs an http(s) URL or reference")
        return self


#: An owner as CODEOWNERS files name one: @org/team, @user or an email address.
CodeOwner = Annotated[str, Field(pattern=r"^(@[\w.-]+(/[\w.-]+)?|[^@\s]+@[^@\s]+)$")]


class TeamSpec(Model):
    members: list[Member] = Field(default_factory=list)
    channels: list[Channel] = Field(default_factory=list)
    codeowners: list[CodeOwner] = Field(
        default_factory=list,
        description="who approves changes to what the team owns, as a code host names them "
        "(@org/team, @user or an email): `interlink export codeowners` writes them",
    )


class Team(EstateObject):
    KIND = "Team"
    kind: Literal["Team"]
    spec: TeamSpec = Field(default_factory=TeamSpec)


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class SystemLifecycle(StrEnum):
    EXPERIMENTAL = "experimental"
    PRODUCTION = "production"
    DEPRECATED = "deprecated"
    RETIRED = "retired"


class CredentialScheme(StrEnum):
    BEARER = "bearer"
    BASIC = "basic"
    HEADER = "header"
    QUERY = "query"
    OAUTH2 = "oauth2"


class ClientAuth(StrEnum):
    """How the platform authenticates to a System's token endpoint (RFC 7591 names)."""

    CLIENT_SECRET_BASIC = "client_secret_basic"  # noqa: S105 - a method's name
    CLIENT_SECRET_POST = "client_secret_post"  # noqa: S105
    PRIVATE_KEY_JWT = "private_key_jwt"


# The fields each scheme requires; oauth2 also takes those of _OAUTH2_OPTIONAL.
_SCHEME_FIELDS: dict[CredentialScheme, tuple[str, ...]] = {
    CredentialScheme.BEARER: ("token",),
    CredentialScheme.BASIC: ("username", "password"),
    CredentialScheme.HEADER: ("name", "value"),
    CredentialScheme.QUERY: ("name", "value"),
    CredentialScheme.OAUTH2: ("token_url", "client_id"),
}
_OAUTH2_OPTIONAL = ("client_secret", "private_key", "client_auth", "key_id", "scopes", "audience")
_FIELDS = (
    "token",
    "username",
    "password",
    "name",
    "value",
    "token_url",
    "client_id",
    *_OAUTH2_OPTIONAL,
)
# An OAuth scope-token (RFC 6749 §3.3): printable ASCII but space, '"' and '\\'.
_SCOPE = re.compile(r"^[\x21\x23-\x5b\x5d-\x7e]+$")


def _token_url(value: str) -> str:
    """A token endpoint: https, or http to a loopback host only (secrets cross it)."""
    if has_reference(value):
        return value
    check_token_url(value)
    return value


def check_token_url(url: str) -> None:
    """ValueError unless ``url`` is https, or http to a loopback address."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and parts.hostname and _loopback(parts.hostname):
        return
    raise ValueError(
        f"the token URL {url!r} must be https (http only to a loopback address): the client's "
        "secret crosses it"
    )


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]+$")
_QUERY_NAME = re.compile(r"^[A-Za-z0-9._~!$'()*,;:@/-]+$")
# Headers the platform sets or frames itself: a credential may not stand in for them.
_OWN_HEADERS = frozenset(
    {
        "host", "content-length", "content-type", "transfer-encoding", "connection",
        "keep-alive", "upgrade", "te", "trailer", "expect", "via", "forwarded",
        "x-forwarded-for", "x-forwarded-host", "x-forwarded-proto", "x-request-id",
        "traceparent", "tracestate", "x-consumer", "x-consumer-scopes", "x-auth-method",
        "webhook-id", "webhook-timestamp", "webhook-signature",
    }
)  # fmt: skip


class SystemCredentials(Model):
    """The credential the platform presents on every call it makes to a System: the gateway's
    requests (primary and shadow), webhook deliveries and flow calls. Secrets are references.
    oauth2: a token the platform fetches from the System's token endpoint (client
    credentials grant) and keeps until shortly before it expires."""

    scheme: CredentialScheme = Field(
        description="bearer: Authorization: Bearer TOKEN; basic: Authorization: Basic; "
        "header: the header NAME set to VALUE; query: the query parameter NAME set to VALUE; "
        "oauth2: Authorization: Bearer with a token from tokenUrl (client credentials grant)"
    )
    token: SecretRef | None = Field(default=None, description="bearer: the token")
    username: str | None = Field(
        default=None, description="basic: the user name (plain or a reference)"
    )
    password: SecretRef | None = Field(default=None, description="basic: the password")
    name: str | None = Field(default=None, description="header or query: its name")
    value: SecretRef | None = Field(default=None, description="header or query: the secret")
    token_url: Annotated[str, AfterValidator(_token_url)] | None = Field(
        default=None,
        description="oauth2: the System's token endpoint (https; http only to loopback), "
        "or a reference",
    )
    client_id: str | None = Field(
        default=None, description="oauth2: the platform's client id there (plain or a reference)"
    )
    client_secret: SecretRef | None = Field(
        default=None, description="oauth2: the client secret (or privateKey, not both)"
    )
    private_key: SecretRef | None = Field(
        default=None,
        description="oauth2: a PEM private key (RSA ≥ 2048 bits: RS256; EC P-256: ES256) "
        "that signs a JWT assertion (private_key_jwt, RFC 7523) instead of a client secret",
    )
    client_auth: ClientAuth | None = Field(
        default=None,
        description="oauth2: client_secret_basic (default with clientSecret), "
        "client_secret_post, or private_key_jwt (with privateKey)",
    )
    key_id: str | None = Field(
        default=None, min_length=1, description="oauth2: the assertion's kid header"
    )
    scopes: list[str] | None = Field(default=None, description="oauth2: the scopes asked for")
    audience: str | None = Field(
        default=None, min_length=1, description="oauth2: the token request's audience parameter"
    )

    @model_validator(mode="after")
    def _fields(self) -> SystemCredentials:
        wanted = _SCHEME_FIELDS[self.scheme]
        optional = _OAUTH2_OPTIONAL if self.scheme is CredentialScheme.OAUTH2 else ()
        for field in _FIELDS:
            given = getattr(self, field) is not None
            if field in wanted and not given:
                raise ValueError(f"scheme {self.scheme.value} needs {to_camel(field)}")
            if field not in wanted and field not in optional and given:
                takes = ", ".join(to_camel(f) for f in (*wanted, *optional))
                raise ValueError(
                    f"scheme {self.scheme.value} takes no {to_camel(field)} (it takes {takes})"
                )
        if self.scheme is CredentialScheme.OAUTH2:
            self._oauth2()
        if self.username is not None and not has_reference(self.username) and ":" in self.username:
            raise ValueError("a basic username must not hold ':'")
        name = self.name or ""
        if self.scheme is CredentialScheme.HEADER:
            if not _HEADER_NAME.match(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in _OWN_HEADERS:
                raise ValueError(f"the gateway sets {name} itself; name another header")
        if self.scheme is CredentialScheme.QUERY and not _QUERY_NAME.match(name):
            raise ValueError(f"{name!r} is not a query parameter name")
        return self

    def _oauth2(self) -> None:
        if (self.client_secret is None) == (self.private_key is None):
            raise ValueError("scheme oauth2 takes clientSecret or privateKey: one of them")
        auth = self.auth_method
        if (auth is ClientAuth.PRIVATE_KEY_JWT) != (self.private_key is not None):
            needs = "privateKey" if auth is ClientAuth.PRIVATE_KEY_JWT else "clientSecret"
            raise ValueError(f"clientAuth {auth.value} needs {needs}")
        if self.key_id is not None and self.private_key is None:
            raise ValueError("keyId names the key of privateKey; there is none")
        for scope in self.scopes or ():
            if not _SCOPE.match(scope):
                raise ValueError(f"{scope!r} is not an OAuth scope (printable, no spaces)")

    @property
    def auth_method(self) -> ClientAuth:
        """How the client authenticates at the token endpoint, as given or implied."""
        if self.client_auth is not None:
            return self.client_auth
        if self.private_key is not None:
            return ClientAuth.PRIVATE_KEY_JWT
        return ClientAuth.CLIENT_SECRET_BASIC


def _bearer_shorthand(value: object) -> object:
    """A bare reference is short for ``{scheme: bearer, token: REFERENCE}``."""
    return {"scheme": "bearer", "token": value} if isinstance(value, str) else value


#: The connector a System with a baseUrl uses, whether it names it or not.
HTTP_CONNECTOR = "http"


class SystemSpec(Model):
    domain: str
    connector: str | None = Field(
        default=None,
        pattern=r"^[a-z0-9][a-z0-9-]{0,62}$",
        description="how flows reach the System: http (implied by baseUrl), postgresql, "
        "mariadb, sqlite, mqtt, redis-streams, or an installed connector "
        "(`interlink connectors list`)",
    )
    connection: dict[str, Any] | None = Field(
        default=None,
        description="the connector's settings, as `interlink connectors show NAME` lists them; "
        "secret fields only as ${secret:…} references",
    )
    base_url: HttpUrl | None = None
    criticality: Criticality = Criticality.MEDIUM
    data_classification: Classification = Classification.INTERNAL
    lifecycle: SystemLifecycle = SystemLifecycle.PRODUCTION
    country: Country | None = Field(
        default=None, description="where the System keeps and processes its data"
    )
    retention: Duration | None = Field(
        default=None, gt=0, description="how long the System keeps personal data"
    )
    purposes: list[str] = Field(
        default_factory=list, description="why the System processes personal data"
    )
    credentials: Annotated[
        SystemCredentials | None,
        BeforeValidator(
            _bearer_shorthand, json_schema_input_type=SecretRef | SystemCredentials | None
        ),
    ] = Field(
        default=None,
        description="the credential the platform uses when calling this system; a bare "
        "${secret:…} reference is a bearer token",
    )
    tls: SystemTls | None = Field(
        default=None,
        description="an https baseUrl's verification (on by default; a CA bundle) and the "
        "client certificate presented to it ([gateway](gateway.md#upstream-tls))",
    )

    @model_validator(mode="after")
    def _reached(self) -> SystemSpec:
        http = self.connector in (None, HTTP_CONNECTOR)
        if self.connection is not None and http:
            raise ValueError(
                "connection configures a connector: name it with connector (postgresql, …); "
                "an http System has baseUrl and credentials instead"
            )
        if not http and (
            self.base_url is not None or self.credentials is not None or self.tls is not None
        ):
            raise ValueError(
                f"a {self.connector} System is reached through its connection, not baseUrl, "
                "credentials or tls"
            )
        base = self.base_url or ""
        if self.tls is not None and not has_reference(base) and not base.startswith("https://"):
            raise ValueError("tls applies to an https baseUrl")
        return self

    @property
    def connector_name(self) -> str | None:
        """The connector the System uses: the one it names, http when it has a baseUrl."""
        if self.connector is not None:
            return self.connector
        return HTTP_CONNECTOR if self.base_url is not None else None


class System(EstateObject):
    KIND = "System"
    kind: Literal["System"]
    spec: SystemSpec
