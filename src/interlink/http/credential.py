"""A System's credential as the platform sends it: one header, or one query parameter.

Compiled from the System's ``credentials`` with the estate (its references resolved then) and
added to every call the platform makes to that System: the gateway's requests, primary and
shadow, webhook deliveries, flow calls and product reads. Whatever the caller sent under the
same header or parameter name is dropped first: a client's value must never pass for the
platform's.

An ``oauth2`` credential has a :class:`~interlink.http.token_source.TokenSource` instead of a
value: a caller asks :meth:`Credential.current` for the header of the token held now, and
after a 401 :meth:`Credential.renewed` for the one to try once more with.

The value is never shown: ``repr`` names the header or parameter only, and the errors raised
while compiling name the System and the reference, never what it resolved to.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

from interlink.errors import ConfigError
from interlink.estate.references import SecretSource, resolve
from interlink.http.headers import Headers

if TYPE_CHECKING:
    from interlink.estate.kinds.organisation import SystemCredentials
    from interlink.http.client import HttpClient
    from interlink.http.connection import Response
    from interlink.http.tls import ClientTls
    from interlink.http.token_source import TokenSource

# What a header value may hold (RFC 9110 §5.5 field-vchar, SP and HTAB; no CR, LF or NUL).
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class Credential:
    """One header (``in_query`` False) or query parameter the platform adds to its calls."""

    __slots__ = ("in_query", "name", "source", "value")

    def __init__(
        self, name: bytes, value: bytes, *, in_query: bool, source: TokenSource | None = None
    ) -> None:
        self.name = name  # a header's lower-case name; a query parameter's, percent-encoded
        self.value = value  # percent-encoded in a query; empty with a source
        self.in_query = in_query
        self.source = source  # oauth2: where the value comes from, call by call

    async def current(self) -> Credential:
        """The credential to send now: itself, or the bearer header of the token the source
        holds (TokenError when the token endpoint gives none)."""
        if self.source is None:
            return self
        return _bearer(await self.source.current(), self.source)

    async def renewed(self, used: Credential) -> Credential | None:
        """After the System answered 401 to a call with ``used``: the credential to try once
        more with, or None (a static credential, or not again so soon)."""
        if self.source is None:
            return None
        token = used.value.decode("latin-1").removeprefix("Bearer ")
        fresh = await self.source.rejected(token)
        return _bearer(fresh, self.source) if fresh is not None else None

    def __repr__(self) -> str:
        where = "query parameter" if self.in_query else "header"
        return f"Credential({where} {self.name.decode('latin-1')!r})"

    def headers(self, headers: Headers) -> Headers:
        """``headers`` with the credential's header in place of any of the same name."""
        if self.in_query:
            return headers
        name = self.name
        out = [header for header in headers if header[0].lower() != name]
        out.append((name, self.value))
        return out

    def target(self, target: bytes) -> bytes:
        """The request target ``target`` with the credential's parameter in place of any of
        the same name (also when spelt percent-encoded)."""
        if not self.in_query:
            return target
        path, _, query = target.partition(b"?")
        kept = [part for part in query.split(b"&") if part and not self._names(part)]
        kept.append(self.name + b"=" + self.value)
        return path + b"?" + b"&".join(kept)

    def url(self, url: str) -> str:
        """The absolute ``url`` with the credential's parameter, as :meth:`target` adds it."""
        if not self.in_query:
            return url
        parts = urlsplit(url)
        target = parts.path + ("?" + parts.query if parts.query else "")
        path, _, query = self.target(target.encode("latin-1")).decode("latin-1").partition("?")
        return urlunsplit(parts._replace(path=path, query=query))

    def header_text(self) -> tuple[str, str] | None:
        """The header as text (webhook clients take ``str`` headers); None for a parameter."""
        if self.in_query:
            return None
        return self.name.decode("latin-1"), self.value.decode("latin-1")

    def _names(self, part: bytes) -> bool:
        name = part.partition(b"=")[0]
        return unquote_to_bytes(name.replace(b"+", b" ")) == unquote_to_bytes(self.name)


def _bearer(token: str, source: TokenSource) -> Credential:
    # The source stays on the copy: a 401 to it finds the source to renew the token with.
    return Credential(b"authorization", b"Bearer " + token.encode("ascii"), in_query=False,
                      source=source)  # fmt: skip


def compile_credential(
    spec: SystemCredentials, system: str, secrets: SecretSource | None = None
) -> Credential:
    """The credential ``spec`` describes, its references resolved. Raises ConfigError naming
    the System and what is wrong, never a value."""
    scheme = spec.scheme.value

    def value(field: str, reference: str | None) -> str:
        assert reference is not None  # the model requires the scheme's fields
        try:
            resolved = resolve(reference, secrets)
        except ConfigError as exc:  # its class kept: check tells an unset reference apart
            raise type(exc)(f"credentials of System/{system}: {exc.message}") from None
        if not resolved:
            raise ConfigError(f"credentials of System/{system}: the {field} {reference} is empty")
        return resolved

    def header(name: str, text: str, field: str) -> Credential:
        if not _FIELD_VALUE.fullmatch(text) or any(ord(c) > 0xFF for c in text):
            raise ConfigError(
                f"credentials of System/{system}: the {field} holds a character a header "
                "cannot carry (a line break, a control character or non-Latin-1 text)"
            )
        return Credential(name.lower().encode("ascii"), text.encode("latin-1"), in_query=False)

    if scheme == "bearer":
        return header("authorization", "Bearer " + value("token", spec.token), "token")
    if scheme == "basic":
        username = value("username", spec.username)
        if ":" in username:
            raise ConfigError(f"credentials of System/{system}: the username holds ':'")
        pair = f"{username}:{value('password', spec.password)}".encode()
        encoded = base64.b64encode(pair).decode("ascii")
        return header("authorization", "Basic " + encoded, "password")
    if scheme == "oauth2":
        return _oauth2(spec, system, value)
    assert spec.name is not None
    if scheme == "header":
        return header(spec.name, value("value", spec.value), "value")
    name = quote(spec.name, safe="").encode("ascii")
    return Credential(
        name, quote(value("value", spec.value), safe="").encode("ascii"), in_query=True
    )


def _oauth2(
    spec: SystemCredentials, system: str, value: Callable[[str, str | None], str]
) -> Credential:
    """An oauth2 credential: a header whose value the System's token source gives."""
    from interlink.estate.kinds.organisation import check_token_url
    from interlink.http.jose import signing_key
    from interlink.http.token_source import (
        TokenSettings,
        known_source,
        settings_fingerprint,
        token_source,
    )

    assert spec.token_url is not None
    assert spec.client_id is not None
    url = value("tokenUrl", spec.token_url)
    try:
        check_token_url(url)
    except ValueError as exc:
        raise ConfigError(f"credentials of System/{system}: {exc}") from None
    client_id = value("clientId", spec.client_id)
    auth = spec.auth_method.value
    secret = value("clientSecret", spec.client_secret) if spec.client_secret else None
    pem = value("privateKey", spec.private_key) if spec.private_key else None
    scopes = tuple(spec.scopes or ())
    parts = (system, url, client_id, auth, secret, pem, spec.key_id, " ".join(scopes))
    fingerprint = settings_fingerprint(*parts, spec.audience)
    source = known_source(system, fingerprint)
    if source is None:
        key = None
        if pem is not None:
            try:
                key = signing_key(pem, spec.key_id)
            except ValueError as exc:
                raise ConfigError(
                    f"credentials of System/{system}: the privateKey {spec.private_key}: {exc}"
                ) from None
        settings = TokenSettings(system, url, client_id, auth, secret, key, scopes, spec.audience)
        source = token_source(settings, fingerprint)
    return Credential(b"authorization", b"", in_query=False, source=source)


async def request(
    client: HttpClient,
    credential: Credential | None,
    method: str,
    url: str,
    headers: list[tuple[str, str]],
    body: bytes | None = None,
    tls: ClientTls | None = None,
) -> Response:
    """``client.request`` with ``credential`` on it. An oauth2 token is asked for first
    (TokenError, an UpstreamError, when there is none), and after a 401 the call is sent once
    more with a fresh one: ``body`` is bytes, so it can be."""
    if credential is None:
        return await client.request(method, url, headers, body, tls=tls)
    used = await credential.current()
    response = await client.request(method, used.url(url), _with(headers, used), body, tls=tls)
    if response.status != 401 or credential.source is None:
        return response
    fresh = await credential.renewed(used)
    if fresh is None:
        return response
    response.close()
    return await client.request(method, fresh.url(url), _with(headers, fresh), body, tls=tls)


def _with(headers: list[tuple[str, str]], credential: Credential) -> list[tuple[str, str]]:
    pair = credential.header_text()
    if pair is None:
        return headers
    return [h for h in headers if h[0].lower() != pair[0]] + [pair]
