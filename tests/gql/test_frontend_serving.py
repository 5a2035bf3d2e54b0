"""`studio serve` serves the built frontend at / with a client-side routing fallback; API paths stay the API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared.settings import Settings

INDEX = "<!doctype html><title>studio-spa-marker</title>"


async def _client(settings: Settings, state: AppState, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings.model_copy(update={"frontend_dir": dist}))
    app.state.studio = state  # the session's resources: no second lifespan (engine, workers) on the same database
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://studio.test") as client:
        yield client


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "assets" / "index-abc123.js").write_text("console.log('app')")
    (root / "favicon.svg").write_text("<svg/>")
    (tmp_path / "secret.txt").write_text("outside the build")
    return root


@pytest.fixture
async def web(settings: Settings, state: AppState, dist: Path) -> AsyncIterator[httpx.AsyncClient]:
    async for client in _client(settings, state, dist):
        yield client


async def test_index_and_client_side_routes_get_the_app(web: httpx.AsyncClient) -> None:
    for path in ("/", "/workflows/123", "/runs/abc/steps", "/inbox"):
        response = await web.get(path)
        assert response.status_code == 200, path
        assert "studio-spa-marker" in response.text, path
        assert response.headers["cache-control"] == "no-cache"
    assert (await web.head("/runs/abc")).status_code == 200


async def test_assets_are_cached_for_long_and_missing_files_are_404(web: httpx.AsyncClient) -> None:
    asset = await web.get("/assets/index-abc123.js")
    assert asset.status_code == 200
    assert asset.text == "console.log('app')"
    assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
    favicon = await web.get("/favicon.svg")
    assert favicon.status_code == 200
    assert favicon.headers["cache-control"] == "no-cache"
    assert (await web.get("/assets/index-old999.js")).status_code == 404
    assert (await web.get("/robots.txt")).status_code == 404
    for path in ("/%2e%2e/secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/..%2fsecret.txt"):
        response = await web.get(path)
        assert "outside the build" not in response.text, path


async def test_api_paths_keep_their_own_answers(web: httpx.AsyncClient) -> None:
    assert (await web.get("/healthz")).json() == {"status": "ok"}
    assert (await web.get("/readyz")).headers["content-type"].startswith("application/json")
    nodes = await web.get("/schemas/nodes")
    assert nodes.headers["content-type"].startswith("application/json")
    answered = await web.post("/graphql", json={"query": "{ __typename }"})
    assert answered.json() == {"data": {"__typename": "Query"}}
    # Unknown ids and wrong methods under API prefixes get the API's 404/405, never the app's HTML.
    for path, status in (
        ("/hooks/nope", 405),
        ("/messages/general", 405),
        ("/schemas/nodes/no.such.type", 404),
        ("/schemas/unknown/deeper", 404),
        ("/artifacts/nope", 404),
        ("/graphqlx", 200),  # not an API prefix: the app's client-side route
    ):
        response = await web.get(path)
        assert response.status_code == status, path
        assert ("studio-spa-marker" in response.text) == (path == "/graphqlx"), path


async def test_without_a_build_the_root_says_how_to_make_one(
    settings: Settings, state: AppState, tmp_path: Path
) -> None:
    async for client in _client(settings, state, tmp_path / "missing"):
        for path in ("/", "/workflows/1"):
            response = await client.get(path)
            assert response.status_code == 503
            assert "make run" in response.text
            assert "make frontend" in response.text
        assert (await client.get("/healthz")).json() == {"status": "ok"}


# --------------------------------------------------------------------------------------- security headers (issue 17)


def _directives(policy: str) -> dict[str, list[str]]:
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


async def test_the_app_is_served_with_a_strict_content_security_policy(web: httpx.AsyncClient) -> None:
    """Found: `/` had no security header but nosniff. An injected <script> (inline or from another host) must not
    run, no other site may frame the studio, and no URL of the studio leaks in a Referer."""
    for path in ("/", "/workflows/123"):
        response = await web.get(path)
        csp = _directives(response.headers["content-security-policy"])
        assert csp["script-src"] == ["'self'"], csp  # no 'unsafe-inline', no 'unsafe-eval', no other host
        assert csp["frame-ancestors"] == ["'none'"] and csp["object-src"] == ["'none'"]
        assert csp["default-src"] == ["'self'"] and csp["base-uri"] == ["'self'"] and csp["form-action"] == ["'self'"]
        assert csp["connect-src"] == ["'self'"]
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["cross-origin-opener-policy"] == "same-origin"
        assert "camera=()" in response.headers["permissions-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


async def test_every_api_answer_has_nosniff_and_no_referrer(web: httpx.AsyncClient, tenant: Any) -> None:
    answers = [
        await web.get("/healthz"),
        await web.get("/schemas/nodes"),
        await web.post("/graphql", json={"query": "{ me { role } }"}),
        await web.post("/hooks/not-an-id", content=b"{}"),
        await web.get("/assets/index-abc123.js"),
        await web.post("/graphql", content=b"x" * 2_000_000),  # the body limit's own 413
    ]
    for response in answers:
        assert response.headers["x-content-type-options"] == "nosniff", response.url
        assert response.headers["referrer-policy"] == "no-referrer", response.url
        assert "content-security-policy" not in response.headers or response.url.path == "/graphql"


async def test_graphiql_is_the_builds_own_page_under_the_apps_policy(web: httpx.AsyncClient, dist: Path) -> None:
    """GraphiQL comes from the web app's build, not a CDN: its page has the app's policy, scripts from 'self' only."""
    missing = await web.get("/graphql", headers={"accept": "text/html"})
    assert missing.status_code == 503 and "make frontend" in missing.text, "not built: say how to build it"
    (dist / "graphiql").mkdir()
    (dist / "graphiql" / "index.html").write_text('<title>graphiql-marker</title><script src="/assets/g.js"></script>')
    page = await web.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200 and "graphiql-marker" in page.text
    assert page.headers["cache-control"] == "no-cache"
    csp = _directives(page.headers["content-security-policy"])
    assert csp["script-src"] == ["'self'"] and csp["style-src"] == ["'self'", "'unsafe-inline'"]
    assert csp["connect-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert "unpkg" not in page.headers["content-security-policy"]
