"""The app factory: ``create_app(settings)`` wires GraphQL, HTTP routes and the resources a lifespan owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from studio_gql.errors import UNAVAILABLE_MESSAGE
from studio_gql.graphql_app import StudioGraphQL
from studio_gql.headers import SecurityHeaders
from studio_gql.limits import BodyLimit
from studio_gql.routes import artifacts, frontend, health, hooks, inbound, schemas
from studio_gql.state import AppState
from studio_shared.crypto import SecretBox
from studio_shared.db import create_engine, lone_reads, read_only, session_factory
from studio_shared.db.errors import RETRY_AFTER_S, is_transient
from studio_shared.events import event_bus_from
from studio_shared.ratelimit import RateLimiter
from studio_shared.settings import Settings
from studio_shared.storage import store_from_settings
from studio_worker.admission import Admission
from studio_worker.control import Control
from studio_worker.engine.runtime import RunEngine
from studio_worker.messaging import Messaging
from studio_worker.nodes.plugins import load_catalog
from studio_worker.queue import job_queue_from
from studio_worker.queue.inprocess import InProcessQueue
from studio_worker.scheduler import Scheduler

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
        limiter = RateLimiter(settings.redis_url)
        box = SecretBox.from_settings(settings)
        run_engine: RunEngine | None = None
        if isinstance(queue, InProcessQueue):  # the embedded default: this process is also the worker pool
            run_engine = RunEngine(settings, engine, bus, queue, catalog)
            queue.bind(run_engine.advance)
            await run_engine.start()
        await queue.start()
        control = Control(
            sessions,
            bus,
            queue,
            registry,
            Admission(settings, limiter),  # one pace and one cap for every kind of start, in this process and others
            reads=reads,
            allow_self_approval=settings.allow_self_approval,
        )
        app.state.studio = AppState(
            settings=settings,
            engine=engine,
            sessions=sessions,
            reads=reads,
            lookups=lone_reads(engine),
            registry=registry,
            bus=bus,
            queue=queue,
            control=control,
            messaging=Messaging(sessions, reads, control),
            box=box,
            store=store,
            limiter=limiter,
            webhook_endpoints=hooks.EndpointCache(reads, box),
            engine_runtime=run_engine,
        )
        scheduler: Scheduler | None = None
        if run_engine is not None:  # embedded: this process fires the schedules too (with Redis: `studio scheduler`)
            scheduler = Scheduler(settings, engine, bus, control)
            await scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                await scheduler.close()
            if isinstance(queue, InProcessQueue):
                queue.stop_taking()  # a backlog stays in the database; only the runs in hand finish
            if run_engine is not None:
                await run_engine.drain(settings.shutdown_grace_s)
            await queue.close()
            if run_engine is not None:
                await run_engine.close()
            await bus.close()
            await store.close()
            await limiter.close()
            await engine.dispose()

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", health.healthz),
        Route("/artifacts/{id:str}", artifacts.download),
        Route("/hooks/{webhook_id:str}", hooks.deliver, methods=["POST"]),
        Route("/messages/{channel:str}", inbound.receive, methods=["POST"]),
        Route("/readyz", health.readyz),
        Route("/schemas/nodes", schemas.node_types),
        Route("/schemas/nodes/{type:str}", schemas.node_type),
        Route("/schemas/workflow.schema.json", schemas.workflow_schema),
        *frontend.frontend_routes(settings.frontend_dir),  # last: the app's client-side routes
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # Outermost first: every answer gets the security headers, a 413 of the body limit too.
        middleware=[Middleware(SecurityHeaders), Middleware(BodyLimit, max_bytes=settings.graphql_max_body_bytes)],
        exception_handlers={SQLAlchemyError: database_error, ClientDisconnect: client_gone},
    )


# 499: nginx's "client closed request"; nobody receives it, but the access log says what happened.
CLIENT_CLOSED_REQUEST = 499


async def client_gone(conn: HTTPConnection, exc: Exception) -> Response:
    """The client went away while sending its request (a browser cancels pending requests when it navigates):
    nothing to answer and nothing wrong here, so one debug line instead of an error with a traceback."""
    method = conn.scope.get("method", "")
    log.debug("client went away before the answer: %s %s", method, conn.url.path)
    return Response(status_code=CLIENT_CLOSED_REQUEST)


async def database_error(conn: HTTPConnection, exc: Exception) -> Response | None:
    """A lost database connection outside a resolver (authentication, an HTTP route): 503, retry; never internals."""
    transient = is_transient(exc)
    if transient:
        log.warning("database unavailable for %s: %s", conn.url.path, type(exc).__name__)
    else:
        log.error("database error for %s", conn.url.path, exc_info=exc)
    if isinstance(conn, WebSocket):
        await conn.close(code=1013 if transient else 1011)  # try again later / internal error
        return None
    if transient:
        body = {"error": "unavailable", "message": UNAVAILABLE_MESSAGE, "retryable": True}
        return JSONResponse(body, status_code=503, headers={"Retry-After": str(RETRY_AFTER_S)})
    return JSONResponse({"error": "internal", "message": "Internal error; it has been logged."}, status_code=500)
