"""The app factory: ``create_app(settings)`` wires GraphQL, HTTP routes and the resources a lifespan owns."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import cast

from sqlalchemy.exc import SQLAlchemyError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, WebSocketRoute
from starlette.types import ExceptionHandler
from starlette.websockets import WebSocket

from studio_gql.errors import UNAVAILABLE_MESSAGE
from studio_gql.graphql_app import StudioGraphQL
from studio_gql.headers import SecurityHeaders
from studio_gql.limits import BodyLimit
from studio_gql.request_context import RequestContext
from studio_gql.routes import artifacts, audit_export, frontend, health, hooks, inbound, oidc, schemas
from studio_gql.routes.metrics import metrics_endpoint
from studio_gql.state import AppState
from studio_shared.crypto import SecretBox
from studio_shared.db import create_engine, lone_reads, read_only, session_factory
from studio_shared.db.errors import RETRY_AFTER_S, is_transient
from studio_shared.events import event_bus_from
from studio_shared.metrics import configure as configure_metrics
from studio_shared.ratelimit import RateLimiter
from studio_shared.resume import ResumeLinks
from studio_shared.settings import Settings
from studio_shared.storage import store_from_settings
from studio_shared.workflow_files import SCHEMA_PATH
from studio_worker import host

log = logging.getLogger("studio")


def create_app(settings: Settings) -> Starlette:
    """Build the ASGI app; the database engine lives exactly as long as the lifespan."""
    graphql = StudioGraphQL(settings)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        # Each resource is closed by the stack in reverse order, on the way out or as soon as a later one fails to
        # start: a failed start-up leaves nothing open behind it.
        async with AsyncExitStack() as stack:
            box = SecretBox.from_settings(settings)
            db_engine = create_engine(settings)
            stack.push_async_callback(db_engine.dispose)
            configure_metrics(tenant_labels=settings.metrics_tenant_labels).watch_pool(db_engine)
            sessions = session_factory(db_engine)
            reads = session_factory(read_only(db_engine))
            limiter = RateLimiter(settings.redis_url)
            stack.push_async_callback(limiter.close)
            objects = store_from_settings(settings)
            stack.push_async_callback(objects.close)
            bus = event_bus_from(settings.redis_url)
            await bus.start()
            stack.push_async_callback(bus.close)
            worker = await stack.enter_async_context(host.hosted(settings, db_engine, sessions, reads, bus, limiter))
            app.state.studio = AppState(
                settings=settings,
                db_engine=db_engine,
                sessions=sessions,
                reads=reads,
                lookups=lone_reads(db_engine),
                registry=worker.registry,
                bus=bus,
                queue=worker.queue,
                control=worker.control,
                messaging=worker.messaging,
                box=box,
                objects=objects,
                limiter=limiter,
                webhook_endpoints=hooks.EndpointCache(reads, box),
                run_engine=worker.run_engine,
                resume_links=ResumeLinks.from_settings(settings),
            )
            yield

    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql),
        Route("/healthz", health.healthz),
        Route("/auth/oidc/callback", oidc.callback),
        Route("/auth/oidc/{tenant:str}/login", oidc.login),
        Route("/artifacts/{id:str}", artifacts.download),
        Route("/audit/export", audit_export.export),
        Route("/hooks/resume/{token:str}", hooks.resume, methods=["POST"]),
        Route("/hooks/{webhook_id:str}", hooks.deliver, methods=["POST"]),
        Route("/messages/{channel:str}", inbound.receive, methods=["POST"]),
        Route("/metrics", metrics_endpoint),
        Route("/readyz", health.readyz),
        Route("/schemas/nodes", schemas.node_types),
        Route("/schemas/nodes/{type:str}", schemas.node_type),
        Route("/schemas/workflow.schema.json", schemas.workflow_schema),
        Route(SCHEMA_PATH, schemas.workflow_file_schema),
        *frontend.frontend_routes(settings.frontend_dir),  # last: the app's client-side routes
    ]
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        # Outermost first: every answer gets its request id (and span) and the security headers, a 413 of the body
        # limit too.
        middleware=[
            Middleware(RequestContext),
            Middleware(SecurityHeaders),
            Middleware(BodyLimit, max_bytes=settings.graphql_max_body_bytes),
        ],
        # database_error serves both kinds of connection, which Starlette's handler type (one or the other) cannot say.
        exception_handlers={SQLAlchemyError: cast(ExceptionHandler, database_error), ClientDisconnect: client_gone},
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
