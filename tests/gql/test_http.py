"""Plain HTTP endpoints: health, readiness, and the registry as cacheable JSON."""

from __future__ import annotations

import httpx
from starlette.applications import Starlette

from studio_gql.app import create_app
from studio_shared.settings import Env, Settings


async def test_healthz(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_reports_each_dependency(http: httpx.AsyncClient, settings: Settings) -> None:
    response = await http.get("/readyz")
    assert response.status_code == 200
    expected = (
        {"database": "ok", "storage": "ok", "redis": "ok"}
        if settings.redis_url
        else {"database": "ok", "storage": "ok"}
    )
    assert response.json()["checks"] == expected


async def _get(app: Starlette, path: str) -> httpx.Response:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://studio.test") as client:
            return await client.get(path)


async def test_readyz_names_the_failing_parts_without_their_errors(settings: Settings) -> None:
    broken = settings.model_copy(
        update={
            "database_url": "postgresql+asyncpg://nobody:hunter2@127.0.0.1:1/none",
            "redis_url": "redis://127.0.0.1:1/0",
        }
    )
    response = await _get(create_app(broken), "/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == ["database", "redis"]
    assert "hunter2" not in response.text and "refused" not in response.text.lower()


async def test_registry_is_served_with_etags(http: httpx.AsyncClient) -> None:
    response = await http.get("/schemas/nodes")
    assert response.status_code == 200
    types = {entry["type"] for entry in response.json()}
    assert {"trigger.manual", "http.request", "human.approval", "foreach"} <= types
    etag = response.headers["etag"]
    assert response.headers["cache-control"].startswith("public")
    cached = await http.get("/schemas/nodes", headers={"If-None-Match": etag})
    assert cached.status_code == 304 and cached.content == b""
    stale = await http.get("/schemas/nodes", headers={"If-None-Match": '"not-it"'})
    assert stale.status_code == 200


async def test_one_node_type_and_the_workflow_schema(http: httpx.AsyncClient) -> None:
    node = await http.get("/schemas/nodes/http.request")
    assert node.status_code == 200 and node.json()["type"] == "http.request"
    assert node.headers["etag"] != (await http.get("/schemas/nodes")).headers["etag"]
    missing = await http.get("/schemas/nodes/no.such.type")
    assert missing.status_code == 404 and "GET /schemas/nodes" in missing.json()["error"]
    schema = await http.get("/schemas/workflow.schema.json")
    assert schema.status_code == 200 and schema.json()["$schema"].endswith("2020-12/schema")


async def test_graphiql_outside_production_only(settings: Settings, http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"Accept": "text/html"})
    # The page (200), or how to build it when the web app is not built here (503).
    assert page.status_code in (200, 503) and "graphiql" in page.text.lower()
    production = settings.model_copy(update={"env": Env.PRODUCTION, "graphiql": None})
    response = await _get(create_app(production), "/graphql")
    assert response.status_code != 200 or "graphiql" not in response.text.lower()
