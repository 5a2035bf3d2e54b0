"""The Strawberry ASGI view: builds the typed context and authenticates websocket connections."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from typing import Any

import cross_web
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketState
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse, GraphQLRequestData
from strawberry.http.types import QueryParams
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.types.unset import UnsetType

from studio_gql import graphql_http, hygiene, sockets
from studio_gql._strawberry_internals import TransportWS, bad_request, chose_no_operation, refused_operation_type
from studio_gql.auth import Rechecks, authenticate
from studio_gql.context import Context
from studio_gql.errors import UNAVAILABLE_MESSAGE, mask_unreached
from studio_gql.schema import build_schema
from studio_gql.state import AppState
from studio_gql.trusted_documents import DocumentIdProblem
from studio_shared.db.errors import RETRY_AFTER_S, is_transient
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
        schema = build_schema(settings)
        self.trusted_documents = schema.trusted_documents
        super().__init__(
            schema,
            graphql_ide="graphiql" if settings.graphiql_enabled else None,
            allow_queries_via_get=True,  # queries only: a mutation over GET is a 405 (see __call__)
            subscription_protocols=[GRAPHQL_TRANSPORT_WS_PROTOCOL],
        )
        self._watchers: set[asyncio.Task[None]] = set()  # one credential check per open websocket
        # Half the interval: a revoked credential is noticed within 1.5 intervals, and the sockets of one user
        # share a read.
        self._rechecks = Rechecks(ttl_s=settings.ws_reauth_interval_s / 2)
        self.sockets = sockets.SocketCounts(settings.max_ws_per_principal, settings.max_ws_per_tenant)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """HTTP as the GraphQL-over-HTTP specification says (studio_gql.graphql_http): the media type the ``Accept``
        header asks for (406 for neither), a request error's status under ``application/graphql-response+json``, 405
        with ``Allow`` for a mutation over GET, and every refusal as a GraphQL response with ``errors``. Websockets go
        to Strawberry's handler unchanged."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope, receive)
        response = await self._answer(request)
        response.headers["Vary"] = "Accept"
        await response(scope, receive, send)

    async def _answer(self, request: Request) -> Response:
        media_type = graphql_http.negotiate(request.headers.get("accept"))
        if media_type is None and not _asks_for_a_page(request):
            message = f"answers are {graphql_http.GRAPHQL_RESPONSE_JSON} or {graphql_http.APPLICATION_JSON}: accept one"
            return self._refusal(406, message, graphql_http.APPLICATION_JSON)
        media_type = media_type or graphql_http.APPLICATION_JSON
        try:
            response = await self.run(request)
        except DocumentRefused as exc:  # a request error: 200 in application/json, 400 in the GraphQL media type
            refused = 200 if media_type == graphql_http.APPLICATION_JSON else 400
            return self._refusal(refused, exc.reason, media_type, code=exc.code)
        except cross_web.HTTPException as exc:
            if refused_operation_type(exc) is OperationType.MUTATION and request.method == "GET":
                return self._refusal(
                    405, "mutations are not run over GET: send them with POST", media_type, {"Allow": "POST"}
                )
            if chose_no_operation(exc) and media_type == graphql_http.APPLICATION_JSON:
                return self._refusal(200, exc.reason, media_type)  # a request error: 200 in application/json
            allow = {"Allow": "GET, POST"} if exc.status_code == 405 else None
            return self._refusal(exc.status_code, exc.reason, media_type, allow)
        if response.media_type != graphql_http.APPLICATION_JSON:
            return response  # GraphiQL's page
        response.headers["Content-Type"] = f"{media_type}; charset=utf-8"
        # A tenant's data, now over GET too: no cache keeps it (a GET's URL would otherwise be a cache key).
        response.headers.setdefault("Cache-Control", "no-store")
        status = getattr(request.state, "graphql_request_error", None)
        if status is not None and media_type == graphql_http.GRAPHQL_RESPONSE_JSON and response.status_code == 200:
            response.status_code = status
            if status == 503:
                response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    def _refusal(
        self,
        status: int,
        message: str,
        media_type: str,
        headers: dict[str, str] | None = None,
        *,
        code: str | None = None,
    ) -> Response:
        """A refused request, answered as a GraphQL response: ``errors`` (with ``code`` when given) and no ``data``."""
        error: dict[str, object] = {"message": message}
        if code is not None:
            error["extensions"] = {"code": code}
        body = self.encode_json({"errors": [error]})
        return Response(body, status_code=status, headers=headers, media_type=f"{media_type}; charset=utf-8")

    async def parse_http_body(
        self, request: cross_web.AsyncHTTPRequestAdapter
    ) -> GraphQLRequestData | list[GraphQLRequestData]:
        """Strawberry checks ``query``, ``variables`` and ``extensions``; ``operationName`` must be a string too."""
        data = await super().parse_http_body(request)
        for item in data if isinstance(data, list) else [data]:
            if not isinstance(item.operation_name, str | None):
                raise bad_request("The GraphQL operation's `operationName` must be a string or null, if provided.")
        return data

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """A request error (nothing executed) has no ``data`` entry; its status is set by ``__call__``. An unexpected
        exception before execution (in a schema extension) is masked here: ``MaskErrors`` does not reach it."""
        if isinstance(request, Request) and graphql_http.is_request_error(result.data, result.errors):
            result.errors = mask_unreached(result.errors or [])
            request.state.graphql_request_error = graphql_http.request_error_status(result.errors)
            response = await super().process_result(request, result)
            response.pop("data", None)
            return response
        return await super().process_result(request, result)

    def parse_query_params(self, params: QueryParams) -> dict[str, Any]:
        """A GET's parameters: ``variables`` and ``extensions`` are URL-encoded JSON objects (empty: none), parsed by
        the body's strict rules, and a mistake names the parameter."""
        parsed: dict[str, Any] = dict(params)
        for name in ("variables", "extensions"):
            value = parsed.get(name)
            if not value:
                parsed[name] = None
                continue
            try:
                decoded = hygiene.loads(value)
            except hygiene.BadJSON as exc:
                raise bad_request(f"the `{name}` parameter is not JSON: {exc}") from exc
            if not isinstance(decoded, dict):
                raise bad_request(f"The GraphQL operation's `{name}` must be an object or null, if provided.")
            parsed[name] = decoded
        self._name_document(parsed)
        return parsed

    def _name_document(self, item: object) -> None:
        """A request that names a trusted document (``documentId``, ``extensions.persistedQuery``) runs its text;
        DocumentRefused for an unknown id, or a text that is not the id's."""
        if not isinstance(item, dict):
            return
        try:
            text = self.trusted_documents.request_text(
                item.get("query"), item.get("documentId"), item.get("extensions")
            )
        except DocumentIdProblem as exc:
            raise DocumentRefused(exc) from exc
        if text is not None:
            item["query"] = text

    def should_render_graphql_ide(self, request: Any) -> bool:
        """Strawberry's test (a GET without ``query`` accepting HTML), but a GET naming a trusted document by id is
        an operation, not a browser asking for GraphiQL."""
        params = request.query_params
        named = params.get("documentId") is not None or params.get("extensions") is not None
        return not named and super().should_render_graphql_ide(request)

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
        for item in decoded if isinstance(decoded, list) else [decoded]:
            self._name_document(item)
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


class DocumentRefused(cross_web.HTTPException):
    """A request naming a trusted document the server cannot run: answered with the problem's code."""

    def __init__(self, problem: DocumentIdProblem) -> None:
        super().__init__(400, str(problem))
        self.code = problem.code


def _asks_for_a_page(request: Request) -> bool:
    """A browser's GET of GraphiQL (no query, HTML accepted): the page is not a GraphQL answer."""
    return (
        request.method == "GET"
        and "query" not in request.query_params
        and "documentId" not in request.query_params
        and "extensions" not in request.query_params
        and "text/html" in request.headers.get("accept", "")
    )


def _finite(value: Any) -> Any:
    """``value`` with every non-finite number replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value
