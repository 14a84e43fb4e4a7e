"""How schema findings read on each side of an API, and the few rules that differ there."""

from __future__ import annotations

from interlink.contracts._findings import Finding

#: What a breaking request-side change means for API clients.
REQUEST = "clients sending requests that matched the old contract may be rejected"
#: What a breaking response-side change means for API clients.
RESPONSE = "clients built against the old contract may not understand the new responses"

_DEFAULT_SHIFT = "clients that omit the value now get different behaviour"


def adjust_request(finding: Finding) -> tuple[Finding, str]:
    """Request side: a changed or dropped default silently changes what omitting means."""
    if finding.code in ("DEFAULT_CHANGED", "DEFAULT_REMOVED"):
        return Finding(finding.code, finding.pointer, finding.text, True), _DEFAULT_SHIFT
    return finding, REQUEST


def adjust_response(finding: Finding) -> tuple[Finding, str]:
    """Response side: clients read what servers send, so a vanished property breaks them.

    The lenient policy lets writers drop undeclared names; a response property is declared and
    read, so removing it breaks clients even though the schema stays open.
    """
    if finding.code == "PROPERTY_REMOVED_FROM_OPEN_CONTENT_MODEL":
        text = "was removed from the response"
        return Finding(
            finding.code, finding.pointer, text, True
        ), "clients reading it no longer get it"
    return finding, RESPONSE
