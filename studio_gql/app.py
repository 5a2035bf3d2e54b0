"""The app factory: ``create_app(settings)`` wires GraphQL, HTTP routes and the resources a lifespan owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route, WebSocketRoute

from studio_gql.graphql_app import StudioGraphQL
from studio_gql.limits import BodyLimit
from studio_gql.routes import health, schemas
from studio_gql.state import AppState
from studio_shared.db import create_engine, session_factory
from studio_shared.schemas import load_registry
from studio_shared.settings import Settings

log = logging.getLogger("studio")


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; the database engine lives exactly as long as the lifespan."""
    graphql = StudioGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.studio = AppState(
            settings=settings, engine=engine, sessions=session_factory(engine), registry=load_registry()
        )
        try:
            yield
        finally:
            await engine.dispose()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", health.healthz),
        Route("/readyz", health.readyz),
        Route("/schemas/nodes", schemas.node_types),
        Route("/schemas/nodes/{type:str}", schemas.node_type),
        Route("/schemas/workflow.schema.json", schemas.workflow_schema),
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[Middleware(BodyLimit, max_bytes=settings.graphql_max_body_bytes)],
    )
