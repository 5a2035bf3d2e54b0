"""``GET /artifacts/{id}``: stream an artifact to its tenant (token) or to the holder of a signed link.

Anything else — another tenant's id, a missing one, a bad or expired link, a role without ``artifact:read``
— is the same 404, so the endpoint confirms nothing about ids it does not serve.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator

import sqlalchemy as sa
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from studio_gql.auth import authenticate
from studio_gql.schema.artifacts import artifact_subject
from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.errors import Unauthenticated
from studio_shared.rbac import Permission, permissions_for
from studio_shared.storage import ObjectNotFound, StorageError, safe_name

log = logging.getLogger("studio.artifacts")
NOT_FOUND = {"error": "not_found", "message": "no such artifact, or the link expired: ask for a fresh downloadUrl"}


async def download(request: Request) -> Response:
    state: AppState = request.app.state.studio
    artifact = await _authorized(state, request)
    if artifact is None:
        return JSONResponse(NOT_FOUND, status_code=404)
    chunks = state.objects.stream(artifact.storage_key)
    try:
        first = await anext(chunks, b"")
    except ObjectNotFound:
        log.warning("artifact %s has a row but no object", artifact.id)
        return JSONResponse(NOT_FOUND, status_code=404)
    except StorageError:
        log.warning("artifact %s: storage unavailable", artifact.id, exc_info=True)
        return JSONResponse({"error": "unavailable", "message": "storage is unavailable; try again"}, 503)
    headers = {
        "Content-Length": str(artifact.size),
        # User content never renders on the API's origin: always a download, never sniffed, sandboxed.
        "Content-Disposition": f'attachment; filename="{safe_name(artifact.name)}"',
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'",
        "Cache-Control": "private, no-store",
        "ETag": f'"{artifact.sha256}"',
    }
    return StreamingResponse(_chain(first, chunks), media_type=artifact.content_type, headers=headers)


async def _chain(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    if first:
        yield first
    async for chunk in rest:
        yield chunk


async def _authorized(state: AppState, request: Request) -> models.Artifact | None:
    try:
        artifact_id = uuid.UUID(request.path_params["id"])
    except ValueError:
        return None
    signature, expires = request.query_params.get("signature"), request.query_params.get("expires")
    if signature is not None and expires is not None:
        # A link names no tenant: look the artifact up by its key, then check the link signs exactly it.
        async with state.reads() as s:
            row = await s.get(models.Artifact, artifact_id)
        if row is None or not expires.isdigit():
            return None
        subject = artifact_subject(row.tenant_id, str(row.id))
        return row if state.box.verify(subject, int(expires), signature) else None
    try:
        principal = await authenticate(state, request.headers.get("authorization"))
    except Unauthenticated:
        return None
    if principal is None or Permission.ARTIFACT_READ not in permissions_for(principal.role):
        return None
    async with state.reads() as s:
        return await s.scalar(
            sa.select(models.Artifact).where(
                models.Artifact.tenant_id == principal.tenant_id, models.Artifact.id == artifact_id
            )
        )
