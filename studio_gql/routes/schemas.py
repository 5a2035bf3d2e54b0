"""The schema registry as plain, cacheable JSON for tools that do not speak GraphQL."""

from __future__ import annotations

import functools
import json

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from studio_gql.state import AppState
from studio_shared.schemas import NodeRegistry, etag_of, workflow_schema_document
from studio_shared.workflow_files import file_schema

CACHE_CONTROL = "public, max-age=300"


def _cached(request: Request, body: bytes) -> Response:
    etag = f'"{etag_of(body)}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if etag in [tag.strip() for tag in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


async def node_types(request: Request) -> Response:
    state: AppState = request.app.state.studio
    return _cached(request, state.registry.registry_document())


async def node_type(request: Request) -> Response:
    state: AppState = request.app.state.studio
    name = request.path_params["type"]
    if state.registry.get(name) is None:
        return JSONResponse({"error": f"unknown node type {name!r}; GET /schemas/nodes lists them"}, status_code=404)
    return _cached(request, state.registry.document(name))


async def workflow_schema(request: Request) -> Response:
    return _cached(request, workflow_schema_document())


@functools.lru_cache(maxsize=4)
def _workflow_file_document(registry: NodeRegistry) -> bytes:
    return json.dumps(file_schema(registry), indent=2, ensure_ascii=False).encode()


async def workflow_file_schema(request: Request) -> Response:
    """The JSON Schema of the files `studio workflows export` writes: editors point YAML files at it."""
    state: AppState = request.app.state.studio
    return _cached(request, _workflow_file_document(state.registry))
