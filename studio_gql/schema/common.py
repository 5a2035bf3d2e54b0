"""Shared GraphQL building blocks: scalars, enums, Relay connections, payloads."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

import strawberry
from strawberry.scalars import JSON

from studio_gql.errors import UserError
from studio_shared.errors import NotFound
from studio_shared.rbac import Role as RoleEnum
from studio_shared.store import Page

# strawberry.enum registers the GraphQL enum on the class itself and returns it; the alias keeps it a type for mypy.
Role = RoleEnum
strawberry.enum(Role, name="Role", description="Roles from lowest to highest: VIEWER … ADMIN.")

T = TypeVar("T")
M = TypeVar("M")

__all__ = [
    "JSON",
    "Connection",
    "DeletePayload",
    "Edge",
    "PageInfo",
    "Role",
    "UserError",
    "connection",
    "parse_id",
    "require_id",
]


def parse_id(value: str | strawberry.ID) -> uuid.UUID | None:
    """A UUID, or None for anything else: a malformed id reads exactly like a missing one."""
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def require_id(value: str | strawberry.ID, kind: str) -> uuid.UUID:
    """A UUID, or NotFound: mutations answer a malformed id exactly as they answer a missing one."""
    parsed = parse_id(value)
    if parsed is None:
        raise NotFound(kind, value)
    return parsed


@strawberry.type(description="Relay page information.")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type(description="A node with its cursor.")
class Edge(Generic[T]):
    cursor: str
    node: T


@strawberry.type(description="A page of a list, newest first; pass `pageInfo.endCursor` as `after` for the next.")
class Connection(Generic[T]):
    edges: list[Edge[T]]
    page_info: PageInfo

    @strawberry.field(description="The nodes of this page, without cursors.")
    def nodes(self) -> list[T]:
        return [edge.node for edge in self.edges]


def connection(page: Page[M], convert: Callable[[M], T]) -> Connection[T]:
    edges: Iterable[Edge[T]] = (Edge(cursor=page.cursor(item), node=convert(item)) for item in page.items)
    return Connection(edges=list(edges), page_info=PageInfo(has_next_page=page.has_next, end_cursor=page.end_cursor))


@strawberry.type(description="The result of a delete.")
class DeletePayload:
    deleted_id: strawberry.ID | None = None
    errors: list[UserError] = strawberry.field(default_factory=list)
