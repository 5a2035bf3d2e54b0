"""Expected failures become payload ``errors`` at one boundary; everything unexpected is masked."""

from __future__ import annotations

import enum
import functools
import logging
import math
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import strawberry
from graphql import GraphQLError
from strawberry.extensions import MaskErrors

from studio_shared.db.errors import RETRY_AFTER_S, is_transient
from studio_shared.errors import Conflict, NotFound, Problem, RateLimited, StudioError, ValidationFailed

log = logging.getLogger("studio.gql")

PUBLIC_CODES = frozenset(
    {
        "UNAUTHENTICATED",
        "FORBIDDEN",
        "BAD_USER_INPUT",
        "NOT_FOUND",
        "INVALID",
        "RATE_LIMITED",
        "TOO_MANY_LIVE_RUNS",
        "PASSWORD_CHANGE_REQUIRED",
    }
)


@strawberry.enum(description="How serious a problem is: an ERROR makes the input invalid, a WARNING blocks nothing.")
class Severity(enum.Enum):
    ERROR = "error"
    WARNING = "warning"


@strawberry.type(description="A problem with the input of a mutation; `path` points at the offending field.")
class UserError:
    path: list[str] = strawberry.field(description="Where the problem is, e.g. ['nodes', '2', 'config', 'url'].")
    message: str = strawberry.field(description="What is wrong and how to fix it.")
    code: str = strawberry.field(description="A stable machine-readable code, e.g. INVALID_SCHEMA, NOT_FOUND.")
    severity: Severity = strawberry.field(
        default=Severity.ERROR,
        description="ERROR: the input is invalid (a draft's template errors block publishing, not saving); "
        "WARNING: worth a look, blocks nothing.",
    )

    @classmethod
    def from_problem(cls, problem: Problem) -> UserError:
        return cls(
            path=list(problem.path), message=problem.message, code=problem.code, severity=Severity(problem.severity)
        )


def user_errors(exc: StudioError) -> list[UserError]:
    if isinstance(exc, ValidationFailed):
        return [UserError.from_problem(p) for p in exc.problems]
    if isinstance(exc, NotFound):
        return [UserError(path=["id"], message=str(exc), code="NOT_FOUND")]
    if isinstance(exc, Conflict):
        return [UserError(path=list(exc.path), message=str(exc), code=exc.code)]
    return [UserError(path=[], message=str(exc), code=exc.code)]


P = ParamSpec("P")
R = TypeVar("R")


def payload(build: Callable[[list[UserError]], R]) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorate a mutation resolver: NotFound, Conflict and ValidationFailed become ``build(errors)``.

    The resolver's transaction is rolled back first (the exception leaves its ``async with``), so an
    error payload never comes with half-written rows.
    """

    def decorate(resolver: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(resolver)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return await resolver(*args, **kwargs)
            except (NotFound, Conflict, ValidationFailed) as exc:
                return build(user_errors(exc))

        return wrapper

    return decorate


INTERNAL_MESSAGE = "Internal error; it has been logged."  # what a masked error says
UNAVAILABLE_MESSAGE = "The database is unavailable right now; nothing was lost, retry the request."


def should_mask_error(error: GraphQLError) -> bool:
    """Keep parse/validation errors and our own public errors; mask everything else (and log it)."""
    original = error.original_error
    if original is not None and is_transient(original):
        log.warning("database unavailable in %s: %s", ".".join(map(str, error.path or [])), type(original).__name__)
        return True  # answered as UNAVAILABLE (retryable) by StudioMaskErrors, without the driver's text
    if original is None or isinstance(original, GraphQLError):
        # Syntax, validation and limit errors, and variables that fail coercion ("Int cannot represent …"):
        # they describe the request, not the server.
        return False
    if isinstance(error.extensions, dict) and error.extensions.get("code") in PUBLIC_CODES:
        return False
    if isinstance(original, ValidationFailed):
        # A bad argument of a query field (page size, cursor): say which, like a mutation's UserErrors would.
        if error.extensions is not None:
            error.extensions.setdefault("code", "BAD_USER_INPUT")
            error.extensions.setdefault(
                "problems", [{"path": list(p.path), "message": p.message, "code": p.code} for p in original.problems]
            )
        return False
    if isinstance(original, StudioError):
        if error.extensions is not None:
            error.extensions.setdefault("code", original.code)
            if isinstance(original, RateLimited):  # any admission refusal: the same answer from every start
                error.extensions.update(retryable=True, retryAfterS=math.ceil(original.retry_after_s * 100) / 100)
        return False
    log.error("unexpected error in %s", ".".join(map(str, error.path or [])), exc_info=original)
    return True


class StudioMaskErrors(MaskErrors):
    """Masks unexpected errors as one opaque message, and a lost database connection as a retryable one.

    ``anonymise_error`` is an undocumented hook of Strawberry's ``MaskErrors`` (see studio_gql._strawberry_internals).
    """

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        if error.original_error is not None and is_transient(error.original_error):
            return GraphQLError(
                message=UNAVAILABLE_MESSAGE,
                nodes=error.nodes,
                source=error.source,
                positions=error.positions,
                path=error.path,
                extensions={"code": "UNAVAILABLE", "retryable": True, "retryAfterS": RETRY_AFTER_S},
            )
        return super().anonymise_error(error)


def mask_unreached(errors: list[GraphQLError]) -> list[GraphQLError]:
    """Errors that ``StudioMaskErrors`` did not see, masked by the same rules: an extension's hook that fails before
    execution ends the operation that ``MaskErrors`` wraps, and Strawberry answers its exception's text as it is."""
    masker = StudioMaskErrors(should_mask_error=should_mask_error, error_message=INTERNAL_MESSAGE)
    return [
        masker.anonymise_error(error) if error.original_error is not None and should_mask_error(error) else error
        for error in errors
    ]
