"""A System's credential as the platform sends it: one header, or one query parameter.

Compiled from the System's ``credentials`` with the estate (its references resolved then) and
added to every call the platform makes to that System: the gateway's requests, primary and
shadow, and webhook deliveries. Whatever the caller sent under the same header or parameter
name is dropped first: a client's value must never pass for the platform's.

The value is never shown: ``repr`` names the header or parameter only, and the errors raised
while compiling name the System and the reference, never what it resolved to.
"""

from __future__ import annotations

import base64
import re
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote_to_bytes, urlsplit, urlunsplit

from interlink.errors import ConfigError
from interlink.estate.references import SecretSource, resolve
from interlink.http.headers import Headers

if TYPE_CHECKING:
    from interlink.estate.kinds.organisation import SystemCredentials

# What a header value may hold (RFC 9110 §5.5 field-vchar, SP and HTAB; no CR, LF or NUL).
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e\x80-\xff]*")


class Credential:
    """One header (``in_query`` False) or query parameter the platform adds to its calls."""

    __slots__ = ("in_query", "name", "value")

    def __init__(self, name: bytes, value: bytes, *, in_query: bool) -> None:
        self.name = name  # a header's lower-case name; a query parameter's, percent-encoded
        self.value = value  # percent-encoded in a query
        self.in_query = in_query

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
    assert spec.name is not None
    if scheme == "header":
        return header(spec.name, value("value", spec.value), "value")
    name = quote(spec.name, safe="").encode("ascii")
    return Credential(
        name, quote(value("value", spec.value), safe="").encode("ascii"), in_query=True
    )
