"""Field-level RBAC: permission classes built from the matrix in ``studio_shared.rbac``."""

from __future__ import annotations

from typing import Any

from strawberry.exceptions import StrawberryGraphQLError
from strawberry.extensions import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension

from studio_gql.context import Info
from studio_shared.rbac import Permission, permissions_for

# What a user signed in with a temporary password (an admin's reset) may do: read who they are, set a new one.
PASSWORD_CHANGE_OPERATIONS = frozenset({"me", "changePassword"})


class IsAuthenticated(BasePermission):
    """A known caller; one who must set a new password first may use ``PASSWORD_CHANGE_OPERATIONS`` only (every
    other operation declares this permission, so none can forget the rule)."""

    message = "authentication required: send 'Authorization: Bearer <token>'"
    error_extensions = {"code": "UNAUTHENTICATED"}

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        ctx = info.context
        if ctx.principal is None:
            # Say why (expired, invalid, missing) without echoing the token.
            raise StrawberryGraphQLError(str(ctx.auth_error or self.message), extensions={"code": "UNAUTHENTICATED"})
        if ctx.principal.password_change_required and info.field_name not in PASSWORD_CHANGE_OPERATIONS:
            raise StrawberryGraphQLError(
                "your password is a temporary one: set a new password first (changePassword)",
                extensions={"code": "PASSWORD_CHANGE_REQUIRED"},
            )
        return True


class Requires(BasePermission):
    error_extensions = {"code": "FORBIDDEN"}

    def __init__(self, permission: Permission) -> None:
        self.permission = permission
        self.message = f"your role lacks the permission {permission.value!r}"

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        principal = info.context.principal
        return principal is not None and self.permission in permissions_for(principal.role)


def needs(permission: Permission) -> list[FieldExtension]:
    """Field extensions that admit only authenticated callers whose role holds ``permission``."""
    return [PermissionExtension(permissions=[IsAuthenticated(), Requires(permission)], use_directives=False)]


def authenticated() -> list[FieldExtension]:
    return [PermissionExtension(permissions=[IsAuthenticated()], use_directives=False)]


def required_permission(extensions: list[FieldExtension]) -> Permission | None:
    """The permission a field declares (for the RBAC tests); None when it only needs authentication."""
    for ext in extensions:
        if isinstance(ext, PermissionExtension):
            for perm in ext.permissions:
                if isinstance(perm, Requires):
                    return perm.permission
    return None
