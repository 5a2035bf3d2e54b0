"""Checks of the operation before execution: which one to run, and that it may run over this transport."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, OperationDefinitionNode
from starlette.requests import Request
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from studio_gql._strawberry_internals import provided_operation_name


class OperationChecks(SchemaExtension):
    """Before execution: a document with several operations needs ``operationName`` (Strawberry would run the
    first one), and subscriptions stream over graphql-transport-ws (over HTTP they would fail inside)."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)] if document else []
        if len(operations) > 1 and provided_operation_name(context) is None:
            raise GraphQLError("the document has several operations: send operationName to choose one")
        request = getattr(context.context, "request", None)
        if operations and context.operation_type is OperationType.SUBSCRIPTION and isinstance(request, Request):
            raise GraphQLError("subscriptions are served over websocket (graphql-transport-ws) at /graphql, not HTTP")
        yield
