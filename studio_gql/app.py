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
from studio_gql.routes import artifacts, health, schemas
from studio_gql.state import AppState
from studio_shared.crypto import SecretBox
from studio_shared.db import create_engine, read_only, session_factory
from studio_shared.events import event_bus_from
from studio_shared.settings import Settings
from studio_shared.storage import store_from_settings
from studio_worker.control import Control
from studio_worker.engine.runtime import RunEngine
from studio_worker.nodes.plugins import load_catalog
from studio_worker.queue import job_queue_from
from studio_worker.queue.inprocess import InProcessQueue

log = logging.getLogger("studio")


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; the database engine lives exactly as long as the lifespan."""
    graphql = StudioGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        engine = create_engine(settings)
        sessions = session_factory(engine)
        reads = session_factory(read_only(engine))
        catalog = load_catalog(settings)
        registry = catalog.registry
        bus = event_bus_from(settings.redis_url)
        await bus.start()
        queue = job_queue_from(settings)
        store = store_from_settings(settings)
        run_engine: RunEngine | None = None
        if isinstance(queue, InProcessQueue):  # the embedded default: this process is also the worker pool
            run_engine = RunEngine(settings, engine, bus, queue, catalog)
            queue.bind(run_engine.advance)
            await run_engine.start()
        await queue.start()
        app.state.studio = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            reads=reads,
            registry=registry,
            bus=bus,
            queue=queue,
            control=Control(sessions, bus, queue, registry, reads=reads),
            box=SecretBox.from_settings(settings),
            store=store,
            engine_runtime=run_engine,
        )
        try:
            yield
        finally:
            if run_engine is not None:
                await run_engine.drain(settings.shutdown_grace_s)
            await queue.close()
            if run_engine is not None:
                await run_engine.close()
            await bus.close()
            await store.close()
            await engine.dispose()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", health.healthz),
        Route("/artifacts/{id:str}", artifacts.download),
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
