"""The Strawberry ASGI view: builds the typed context and authenticates websocket connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types.unset import UnsetType

from studio_gql import hygiene, sockets
from studio_gql._strawberry_internals import TransportWS, bad_request
from studio_gql.auth import Rechecks, authenticate
from studio_gql.context import Context
from studio_gql.errors import UNAVAILABLE_MESSAGE
from studio_gql.schema import build_schema
from studio_gql.state import AppState
from studio_shared.db.errors import is_transient
from studio_shared.errors import Unauthenticated
from studio_shared.settings import Settings

log = logging.getLogger("studio.gql")


GRAPHIQL_PAGE = "graphiql/index.html"  # in the web app's build: GraphiQL from npm, served by the studio itself
GRAPHIQL_NOT_BUILT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>GraphiQL · Workflow Agent Studio</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 40rem; margin: 3rem auto">
<h1>GraphiQL</h1>
<p>GraphiQL is built with the web app, which has not been built yet. Run <code>make frontend</code> (or
<code>make run</code>) in the repository, then reload this page. The API answers POST requests here meanwhile.</p>
</body></html>
"""


class StudioGraphQL(GraphQL[Context, None]):
    graphql_transport_ws_handler_class = TransportWS  # the connection caps (see studio_gql._strawberry_internals)

    def __init__(self, settings: Settings) -> None:
        self._graphiql_page = settings.frontend_dir / GRAPHIQL_PAGE
        super().__init__(
            build_schema(settings),
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=False,
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        )
        self._watchers: set[asyncio.Task[None]] = set()  # one credential check per open websocket
        # Half the interval: a revoked credential is noticed within 1.5 intervals, and the sockets of one user
        # share a read.
        self._rechecks = Rechecks(ttl_s=settings.ws_reauth_interval_s / 2)
        self.sockets = sockets.SocketCounts(settings.max_ws_per_principal, settings.max_ws_per_tenant)

    async def render_graphql_ide(self, request: Request) -> Response:
        """GraphiQL from the web app's build (its code from this origin: it works offline, under the app's CSP),
        instead of Strawberry's page, which loads it from a CDN with an inline script."""
        try:
            page = self._graphiql_page.read_text(encoding="utf-8")
        except OSError:
            return HTMLResponse(GRAPHIQL_NOT_BUILT, status_code=503, headers={"Cache-Control": "no-store"})
        return HTMLResponse(page, headers={"Cache-Control": "no-cache"})

    def parse_json(self, data: str | bytes) -> Any:
        """A body that is not a JSON object (or undecodable, or unstorable) is the client's mistake: 400, never 500.

        (Strawberry's views parse HTTP bodies through this undocumented hook: see studio_gql._strawberry_internals.)
        """
        try:
            decoded = hygiene.loads(data)
        except UnicodeDecodeError as exc:
            raise bad_request("the request body is not valid UTF-8") from exc
        except hygiene.BadJSON as exc:
            raise bad_request(str(exc)) from exc
        if not isinstance(decoded, dict | list):
            raise bad_request('send a JSON object such as {"query": "...", "variables": {...}}')
        return decoded

    def encode_json(self, data: object) -> str:
        """Answers are strict JSON: a non-finite number (from a row an older version let SQLite keep) is written
        as null rather than as the bare ``Infinity`` or ``NaN`` no JSON parser reads."""
        try:
            return json.dumps(data, separators=(",", ":"), allow_nan=False)
        except ValueError:
            return json.dumps(_finite(data), separators=(",", ":"), allow_nan=False)

    def decode_json(self, data: str | bytes) -> object:
        """Websocket messages: the same strict JSON, in the protocol's shape; anything else closes the socket with
        4400, as Strawberry does for undecodable messages (a malformed one would otherwise crash its handler)."""
        text = data if isinstance(data, str) else ""
        try:
            message = hygiene.loads(data)
        except (hygiene.BadJSON, UnicodeDecodeError) as exc:
            raise json.JSONDecodeError(str(exc), text, 0) from exc
        if problem := hygiene.ws_message_problem(message):
            raise json.JSONDecodeError(problem, text, 0)
        return message

    async def get_context(self, request: Request | WebSocket, response: Response | WebSocket) -> Context:
        state: AppState = request.app.state.studio
        ctx = Context(state=state, request=request, response=response)
        if isinstance(request, Request):
            try:
                ctx.principal = await authenticate(state, request.headers.get("authorization"))
            except Unauthenticated as exc:
                ctx.auth_error = exc
        return ctx

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        params = context.connection_params or {}
        try:
            principal = await authenticate(context.state, params.get("authorization") or params.get("Authorization"))
        except Unauthenticated as exc:
            raise ConnectionRejectionError({"message": str(exc), "code": "UNAUTHENTICATED"}) from exc
        except SQLAlchemyError as exc:
            if not is_transient(exc):
                raise
            raise ConnectionRejectionError({"message": UNAVAILABLE_MESSAGE, "code": "UNAVAILABLE"}) from exc
        if principal is None:
            raise ConnectionRejectionError(
                {"message": 'send {"authorization": "Bearer <token>"} in connection_init', "code": "UNAUTHENTICATED"}
            )
        context.socket_slot = self.sockets.admit(principal)  # TooManyConnections: closed with 4429
        context.principal = principal
        authorization = params.get("authorization") or params.get("Authorization")
        watcher = asyncio.create_task(self._reauthenticate(context, authorization), name="ws-reauth")
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)
        return await super().on_ws_connect(context)

    async def _reauthenticate(self, context: Context, authorization: object) -> None:
        """Every ``ws_reauth_interval_s`` while the socket is open: check the credentials again, as a request would.

        An expired token, a disabled or deleted user, a revoked API key: the socket closes with 4401 and the
        reason, so its subscriptions stop. A changed role replaces the connection's principal.
        """
        ws = context.request
        if not isinstance(ws, WebSocket):
            return
        interval = context.state.settings.ws_reauth_interval_s
        while True:
            await asyncio.sleep(interval)
            if ws.client_state is not WebSocketState.CONNECTED or ws.application_state is not WebSocketState.CONNECTED:
                return
            try:
                context.principal = await self._rechecks.check(context.state, authorization)
            except Unauthenticated as exc:
                log.info("closing a websocket: %s", exc)
                with contextlib.suppress(RuntimeError, OSError):
                    await ws.close(code=4401, reason=str(exc)[:100])
                return
            except SQLAlchemyError as exc:
                if not is_transient(exc):
                    await self._close_unchecked(ws)
                    return
                # The database is away: keep the connection and check again next time.
            except Exception:
                await self._close_unchecked(ws)
                return

    @staticmethod
    async def _close_unchecked(ws: WebSocket) -> None:
        """A credential that cannot be re-checked for a reason other than a passing outage: fail closed (1011),
        rather than leave the socket streaming unchecked for the rest of its life."""
        log.exception("could not re-check a websocket's credentials; closing it")
        with contextlib.suppress(RuntimeError, OSError):
            await ws.close(code=1011, reason="could not re-check your credentials: connect again")


def _finite(value: Any) -> Any:
    """``value`` with every non-finite number replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
