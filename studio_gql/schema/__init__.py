"""The GraphQL schema, assembled in one place from per-area roots."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaxTokensLimiter, ParserCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from studio_gql.errors import INTERNAL_MESSAGE, StudioMaskErrors, should_mask_error
from studio_gql.hygiene import OperationChecks, QuietExecution, validation_extensions
from studio_gql.request_metrics import RequestMetrics
from studio_gql.schema.budgets import BudgetMutation, BudgetQuery
from studio_gql.schema.conversations import ConversationMutation, ConversationQuery
from studio_gql.schema.credentials import CredentialMutation, CredentialQuery
from studio_gql.schema.identity import IdentityMutation, IdentityQuery
from studio_gql.schema.mcp import McpQuery
from studio_gql.schema.messages import MessageMutation, MessageQuery
from studio_gql.schema.registry import RegistryQuery
from studio_gql.schema.runs import RunMutation, RunQuery, RunSubscription, UsageQuery
from studio_gql.schema.schedules import ScheduleMutation, ScheduleQuery
from studio_gql.schema.sso import SsoMutation, SsoQuery
from studio_gql.schema.tasks import HumanTaskMutation, HumanTaskQuery, HumanTaskSubscription
from studio_gql.schema.testing import TestingMutation
from studio_gql.schema.webhooks import WebhookMutation
from studio_gql.schema.workflows import WorkflowMutation, WorkflowQuery
from studio_gql.trusted_documents import TrustedDocumentChecks, TrustedDocumentStore
from studio_shared.settings import Settings

log = logging.getLogger("studio.gql")


@strawberry.type(description="Reads.")
class Query(
    IdentityQuery,
    SsoQuery,
    RegistryQuery,
    WorkflowQuery,
    RunQuery,
    CredentialQuery,
    MessageQuery,
    UsageQuery,
    BudgetQuery,
    HumanTaskQuery,
    ScheduleQuery,
    ConversationQuery,
    McpQuery,
):
    pass


@strawberry.type(description="Writes; each returns a payload with `errors: [UserError!]!` for expected failures.")
class Mutation(
    IdentityMutation,
    SsoMutation,
    WorkflowMutation,
    RunMutation,
    TestingMutation,
    CredentialMutation,
    WebhookMutation,
    MessageMutation,
    HumanTaskMutation,
    ScheduleMutation,
    BudgetMutation,
    ConversationMutation,
):
    pass


@strawberry.type(description="Live streams over graphql-transport-ws.")
class Subscription(RunSubscription, HumanTaskSubscription):
    pass


PUBLIC_OPERATIONS = frozenset({"login", "exchangeSignInCode", "singleSignOn"})


class StudioSchema(strawberry.Schema):
    trusted_documents: TrustedDocumentStore  # the documents requests may name by id (studio_gql.trusted_documents)

    def process_errors(self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None) -> None:
        """Client mistakes (not found, forbidden, bad input) are answers, not server errors: log them at debug.

        Unexpected exceptions are logged with their traceback by ``should_mask_error`` before they are masked.
        """
        for error in errors:
            log.debug("graphql error at %s: %s", ".".join(map(str, error.path or [])), error.message)


class KeptParserCache(ParserCache):
    """Strawberry's parser cache, but a document already parsed (a trusted one, by ``TrustedDocumentChecks``) is
    kept: ``ParserCache`` would look its text up again."""

    def on_parse(self) -> Iterator[None]:
        if self.execution_context.graphql_document is not None:
            yield
            return
        yield from super().on_parse()


def build_schema(settings: Settings | None = None, trusted: TrustedDocumentStore | None = None) -> StudioSchema:
    """The schema with its guards: depth, alias, cost (through fragments, each once) and token limits, storable
    literals, no introspection or suggestions in production, operation choice, subscriptions over websocket only,
    trusted documents only where the settings say so, error masking; parsing and validation are cached per document
    (for the life of the process for a trusted document)."""
    settings = settings or Settings()
    trusted = trusted if trusted is not None else TrustedDocumentStore.shipped()
    # Production keeps the schema to itself (no introspection, no "Did you mean …?") unless a setting opens it.
    quiet = not settings.graphql_introspection_enabled
    schema = StudioSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(auto_camel_case=True),
        # Factories, not instances: Strawberry builds fresh extensions for every operation.
        extensions=[
            RequestMetrics,  # first: it times everything after it
            lambda: MaxTokensLimiter(max_token_count=settings.graphql_max_tokens),
            # Before the parser cache and validation: it refuses untrusted texts, and reuses a trusted one's work.
            lambda: TrustedDocumentChecks(trusted, settings.trusted_documents),
            lambda: KeptParserCache(maxsize=256),  # after the token limit: it parses with the limiter's options
            *validation_extensions(settings),  # the rule classes are built here, once per schema
            OperationChecks,
            lambda: StudioMaskErrors(should_mask_error=should_mask_error, error_message=INTERNAL_MESSAGE),
        ],
        execution_context_class=QuietExecution if quiet else None,
    )
    schema.trusted_documents = trusted
    return schema


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
