"""The built frontend (``frontend/dist``) at ``/``, with the client-side routing fallback to ``index.html``.

Mounted last: every API path (``API_PREFIXES``) is left to the API's own routes, so a wrong method or an
unknown id there still gets the API's answer (405, 404), never the app's HTML. Hashed files under
``assets/`` are cached for a year; ``index.html`` and other files are revalidated on every load. The security
headers (CSP, framing, nosniff, referrer) come from ``studio_gql.headers.SecurityHeaders`` on every answer.
"""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Scope

API_PREFIXES = ("graphql", "hooks", "artifacts", "messages", "schemas", "healthz", "readyz", "auth")
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"

NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Workflow Agent Studio</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>Workflow Agent Studio</h1>
<p>The web app has not been built yet. Run <code>make run</code> (or <code>make frontend</code>, which needs
Node 22.15+) in the repository, then reload this page.</p>
<p>The API is up: <a href="/graphql">/graphql</a>.</p>
</body></html>
"""


def is_api_path(path: str) -> bool:
    first = path.lstrip("/").split("/", 1)[0]
    return first in API_PREFIXES


class _FrontendRoute(Route):
    """A catch-all GET route that never matches an API path."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] == "http" and is_api_path(scope["path"]):
            return Match.NONE, {}
        return super().matches(scope)


def frontend_routes(dist: Path) -> list[BaseRoute]:
    """The routes that serve ``dist``; a missing build answers with how to make one."""
    root = dist.resolve()

    async def serve(request: Request) -> Response:
        index = root / "index.html"
        if not index.is_file():
            return HTMLResponse(NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
        relative = request.path_params["path"]
        if relative:
            candidate = (root / relative).resolve()
            if candidate.is_relative_to(root) and candidate.is_file():
                cache = IMMUTABLE if candidate.parent == root / "assets" else REVALIDATE
                return FileResponse(candidate, headers={"Cache-Control": cache})
            # A missing file (a stale hashed asset, a typo'd favicon) is a 404, not the app's HTML.
            if relative.startswith("assets/") or "." in relative.rsplit("/", 1)[-1]:
                return PlainTextResponse("not found", status_code=404)
        return FileResponse(index, headers={"Cache-Control": REVALIDATE})

    return [_FrontendRoute("/{path:path}", serve, methods=["GET"])]
