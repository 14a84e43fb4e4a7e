"""The encrypted secret store over the admin API: list, set, rotate and delete (platform-wide
admin tokens: permissions.py).

A value goes in, never out: no endpoint returns one, and a request the API refuses is
described without it.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from interlink.admin.audited import audited, audited_route
from interlink.admin.auth import Grant, Granted
from interlink.admin.responses import problems
from interlink.store import Action, SealedSecret, SecretSummary
from interlink.vault import Vault, require_master_keys
from interlink.vault.vault import MAX_VALUE

router = APIRouter()


class SecretValue(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    value: str = Field(
        min_length=1,
        max_length=MAX_VALUE,
        description="the secret's value: stored encrypted, never returned",
        json_schema_extra={"writeOnly": True},
    )


class SecretOut(BaseModel):
    name: str
    version: int = Field(description="the current version (each rotation adds one)")
    updated_at: str = Field(description="when the current version was stored")


def _vault(request: Request) -> Vault:
    return Vault(request.app.state.runtime.store, require_master_keys())


def _summary(s: SecretSummary) -> SecretOut:
    return SecretOut(name=s.name, version=s.version, updated_at=s.updated_at.isoformat())


def _row(s: SealedSecret) -> SecretOut:
    return SecretOut(name=s.name, version=s.version, updated_at=s.created_at.isoformat())


@router.get("/api/v1/secrets", tags=["secrets"])
async def list_secrets(request: Request) -> list[SecretOut]:
    """The stored secrets: names, versions and last change, never values."""
    found = await run_in_threadpool(request.app.state.runtime.store.secrets.summaries)
    return [_summary(s) for s in found]


@router.put(
    "/api/v1/secrets/{name}",
    tags=["secrets"],
    status_code=201,
    responses=problems({400: "it exists (rotate it), a bad name, or no master key configured"}),
    openapi_extra=audited_route("secret.set"),
)
async def set_secret(who: Granted, request: Request, name: str, body: SecretValue) -> SecretOut:
    """Store a new secret; 400 when it exists (rotate it instead)."""
    return await _store_version(request, who, "secret.set", name, body.value)


@router.post(
    "/api/v1/secrets/{name}/rotate",
    tags=["secrets"],
    responses=problems({400: "a bad name, or no master key configured", 404: "no such secret"}),
    openapi_extra=audited_route("secret.rotate"),
)
async def rotate_secret(who: Granted, request: Request, name: str, body: SecretValue) -> SecretOut:
    """Give a secret a new value (a new version); running nodes use it within seconds."""
    return await _store_version(request, who, "secret.rotate", name, body.value)


@router.delete(
    "/api/v1/secrets/{name}",
    tags=["secrets"],
    status_code=204,
    responses=problems({400: "a bad name, or no master key configured", 404: "no such secret"}),
    openapi_extra=audited_route("secret.delete"),
)
async def delete_secret(who: Granted, request: Request, name: str) -> Response:
    """Remove a secret and all its versions."""
    async with audited(request, who, "secret.delete", f"secret/{name}"):
        vault = _vault(request)
        await run_in_threadpool(vault.delete, name, f"token:{who.token_name}")
    return Response(status_code=204)


async def _store_version(
    request: Request, who: Grant, action: Action, name: str, value: str
) -> SecretOut:
    """A secret's new version by ``set`` or ``rotate`` (``action``), audited as it."""
    async with audited(request, who, action, f"secret/{name}") as outcome:
        vault = _vault(request)
        write = vault.set if action == "secret.set" else vault.rotate
        made = await run_in_threadpool(write, name, value, f"token:{who.token_name}")
        outcome.details["version"] = made.version
    return _row(made)
