"""Strawberry internals the API relies on, fenced in one module (README: "Library internals we rely on").

- ``provided_operation_name``: the ``operationName`` a request sent. ``ExecutionContext.operation_name`` falls back
  to the first operation's name, so a document with several operations and no ``operationName`` would run the
  first; only the private ``_provided_operation_name`` tells the two apart.
- ``QuietExecution``: Strawberry's execution context class (``StrawberryGraphQLCoreExecutionContext``, which
  ``strawberry.schema.schema`` does not export) built with graphql-core's ``hide_suggestions``, so a variable's bad
  enum value is refused without "Did you mean …?".
- ``TransportWS``: Strawberry's graphql-transport-ws handler (``BaseGraphQLTransportWSHandler``, plugged in through
  the view's undocumented ``graphql_transport_ws_handler_class``) with the connection caps, and ``handle_subscribe``
  overridden to turn a trusted document's id into its text (``send_message`` answers an unknown one).
- ``bad_request``: what Strawberry's views answer as an HTTP error, ``cross_web.HTTPException`` (a dependency of
  Strawberry's), raised from ``parse_json``, the views' undocumented hook for HTTP bodies.
- ``refused_operation_type``: the operation type a view refused over the request's method. Strawberry answers that
  refusal (a mutation over GET) with the same ``HTTPException(400)`` as every other; only the exception it was raised
  from, ``InvalidOperationTypeError``, tells it apart, and the GraphQL-over-HTTP specification wants a 405 for it.
- ``graphql_schema``: the graphql-core schema under a Strawberry schema (``Schema._schema``), for tests and
  benchmarks that validate or price a document directly.
- ``chose_no_operation``: whether a view's HTTP error is its refusal of a document whose operation cannot be chosen
  (``CannotGetOperationTypeError``: an unknown ``operationName``), a request error that ``application/json`` answers
  with a 200 like the others.
- Relied on without code here: ``MaskErrors.anonymise_error``, which ``studio_gql.errors.StudioMaskErrors``
  overrides (and ``studio_gql.errors.mask_unreached`` calls: ``MaskErrors.on_operation`` does not mask an exception
  that a hook raises before execution); and of the HTTP view, which ``studio_gql.graphql_app.StudioGraphQL``
  drives: ``parse_json``, ``parse_http_body`` and ``parse_query_params`` (overridden: the request's parameters are
  checked there, and a trusted document's id becomes its text), ``should_render_graphql_ide`` (overridden: a GET
  naming a document by id is an operation), ``process_result`` (documented; overridden: a request error's answer
  loses ``data``) and ``run`` (what the view's ``__call__`` runs for a request; called from the studio's own
  ``__call__``, which negotiates the media type and sets the status).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any, cast

import cross_web
import strawberry
import strawberry.schema.schema
from graphql import GraphQLError, GraphQLSchema
from strawberry.asgi import GraphQL
from strawberry.extensions import MaskErrors
from strawberry.http.base import BaseView
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import BaseGraphQLTransportWSHandler
from strawberry.subscriptions.protocols.graphql_transport_ws.types import ConnectionInitMessage, SubscribeMessage
from strawberry.types import ExecutionContext
from strawberry.types.graphql import OperationType

from studio_gql import sockets
from studio_gql.context import Context
from studio_gql.trusted_documents import DocumentIdProblem, TrustedDocumentStore
from studio_shared.internals import Fence, Relied

VERIFIED = {"strawberry-graphql": "0.341.2", "cross-web": "0.9.0"}


def provided_operation_name(context: ExecutionContext) -> str | None:
    """The ``operationName`` the request sent (None when it sent none), not the first operation's name."""
    name: str | None = context._provided_operation_name
    return name


def graphql_schema(schema: strawberry.Schema) -> GraphQLSchema:
    """The graphql-core schema Strawberry built."""
    built: GraphQLSchema = schema._schema
    return built


def refused_operation_type(exc: BaseException) -> OperationType | None:
    """The operation type a view refused over the request's method (a mutation over GET), when ``exc`` is that
    refusal; None for any other HTTP error."""
    cause = exc.__cause__
    return cause.operation_type if isinstance(cause, InvalidOperationTypeError) else None


def chose_no_operation(exc: BaseException) -> bool:
    """Whether ``exc`` is a view's refusal of a document whose operation cannot be chosen (an unknown
    ``operationName``)."""
    return isinstance(exc.__cause__, CannotGetOperationTypeError)


def bad_request(message: str) -> Exception:
    """The exception a Strawberry view's ``parse_json`` raises to answer 400 with ``message``."""
    return cross_web.HTTPException(400, message)


class QuietExecution(StrawberryGraphQLCoreExecutionContext):
    """Execution without "Did you mean …?" in its errors (a variable's value naming the enum values it missed)."""

    @classmethod
    def build(cls, *args: Any, **kwargs: Any) -> Any:
        kwargs["hide_suggestions"] = True
        return super().build(*args, **kwargs)


class TransportWS(BaseGraphQLTransportWSHandler[Context, None]):
    """graphql-transport-ws with the connection caps: a connection over one is closed with 4429 and the cap in the
    reason (the protocol's own refusal is a bare 4403 "Forbidden"), and every admitted one gives its place back
    when it ends, however it ends. A ``subscribe`` may name a trusted document (``documentId`` or
    ``extensions.persistedQuery``): an unknown one is answered with the protocol's ``error`` for that operation."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        store: TrustedDocumentStore | None = getattr(self.schema, "trusted_documents", None)
        payload: dict[str, Any] = cast(dict[str, Any], message["payload"])
        if store is not None and self.connection_acknowledged:
            try:
                text = store.request_text(payload.get("query"), payload.get("documentId"), payload.get("extensions"))
            except DocumentIdProblem as exc:
                error = GraphQLError(str(exc), extensions={"code": exc.code})
                await self.send_message({"id": message["id"], "type": "error", "payload": [error.formatted]})
                return
            payload["query"] = text
        await super().handle_subscribe(message)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        try:
            await super().handle_connection_init(message)
        except sockets.TooManyConnections as exc:
            await self.websocket.close(code=sockets.CLOSE_CODE, reason=str(exc)[:120])

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            slot, self.context.socket_slot = self.context.socket_slot, None
            if slot is not None:
                slot.release()


def _execution_context(operation_name: str | None) -> ExecutionContext:
    return ExecutionContext(
        query="{ a }",
        schema=None,  # type: ignore[arg-type]
        allowed_operations=(),
        provided_operation_name=operation_name,
    )


def _schema() -> strawberry.Schema:
    @strawberry.type
    class Query:
        a: int = 0

    return strawberry.Schema(query=Query)


def _operation_name_is_kept() -> str | None:
    if provided_operation_name(_execution_context(None)) is not None:
        return "ExecutionContext._provided_operation_name no longer keeps a missing operationName as None"
    if provided_operation_name(_execution_context("Run")) != "Run":
        return "ExecutionContext._provided_operation_name no longer keeps the operationName sent"
    return None


def _operation_refusals_keep_their_cause() -> str | None:
    """A view refuses a mutation over GET, and an unknown operationName, with an HTTPException raised from Strawberry's
    own exception (run in a thread of its own: the fence's test may already run an event loop)."""
    from starlette.requests import Request

    @strawberry.type
    class Query:
        a: int = 0

    @strawberry.type
    class Mutation:
        a: int = 0

    view: GraphQL[None, None] = GraphQL(strawberry.Schema(query=Query, mutation=Mutation))

    async def refusal(query_string: bytes) -> BaseException | None:
        scope = {"type": "http", "method": "GET", "path": "/", "query_string": query_string, "headers": []}
        try:
            await view.run(Request(scope))
        except cross_web.HTTPException as exc:
            return exc
        return None

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        refused = pool.submit(asyncio.run, refusal(b"query=mutation+%7B+a+%7D")).result()
        unknown = pool.submit(asyncio.run, refusal(b"query=query+A+%7B+a+%7D&operationName=B")).result()
    if refused is None or refused_operation_type(refused) is not OperationType.MUTATION:
        return "a mutation over GET is no longer refused with an HTTPException raised from InvalidOperationTypeError"
    if unknown is None or not chose_no_operation(unknown):
        return "an unknown operationName is no longer refused with an HTTPException from CannotGetOperationTypeError"
    return None


FENCE = Fence(
    module="studio_gql/_strawberry_internals.py",
    verified=VERIFIED,
    relied=(
        Relied(
            "strawberry.types.ExecutionContext (an instance)",
            ("_provided_operation_name",),
            lambda: _execution_context("Run"),
        ),
        Relied("strawberry.Schema (an instance)", ("_schema",), _schema),
        Relied(
            "strawberry.schema.schema",
            ("StrawberryGraphQLCoreExecutionContext",),
            lambda: strawberry.schema.schema,
        ),
        Relied(
            "strawberry.schema.schema.StrawberryGraphQLCoreExecutionContext",
            ("build(hide_suggestions)",),
            lambda: StrawberryGraphQLCoreExecutionContext,
        ),
        Relied(
            "strawberry.subscriptions.protocols.graphql_transport_ws.handlers.BaseGraphQLTransportWSHandler",
            (
                "handle_connection_init(message)",
                "handle_subscribe(message)",
                "send_message(message)",
                "shutdown",
                "__init__(websocket, context)",
            ),
            lambda: BaseGraphQLTransportWSHandler,
        ),
        Relied(
            "strawberry.asgi.GraphQL",
            (
                "graphql_transport_ws_handler_class",
                "parse_json(data)",
                "parse_http_body(request)",
                "parse_query_params(params)",
                "should_render_graphql_ide(request)",
                "process_result(request, result)",
                "run(request)",
            ),
            lambda: GraphQL,
        ),
        Relied(
            "strawberry.schema.exceptions.InvalidOperationTypeError (an instance)",
            ("operation_type",),
            lambda: InvalidOperationTypeError(OperationType.MUTATION),
        ),
        Relied("strawberry.http.base.BaseView", ("parse_json(data)",), lambda: BaseView),
        Relied("strawberry.extensions.MaskErrors", ("anonymise_error(error)",), lambda: MaskErrors),
        Relied("cross_web", ("HTTPException",), lambda: cross_web),
    ),
    probes=(_operation_name_is_kept, _operation_refusals_keep_their_cause),
)
