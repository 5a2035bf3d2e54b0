"""The permission matrix, as data: the API enforces it on fields and ``me { permissions }`` hands it to the UI."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """Roles from lowest to highest; each holds every permission of the roles below it."""

    VIEWER = "VIEWER"
    APPROVER = "APPROVER"
    OPERATOR = "OPERATOR"
    EDITOR = "EDITOR"
    ADMIN = "ADMIN"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank

    def capped_by(self, other: Role) -> Role:
        """The lesser of the two roles: an API key holds no more than the user it acts for."""
        return self if other.at_least(self) else other


_ORDER = list(Role)


class Permission(StrEnum):
    WORKFLOW_READ = "workflow:read"
    RUN_READ = "run:read"
    ARTIFACT_READ = "artifact:read"
    TASK_READ = "task:read"
    TASK_DECIDE = "task:decide"
    RUN_START = "run:start"
    RUN_CANCEL = "run:cancel"
    RUN_RETRY = "run:retry"
    RUN_SIGNAL = "run:signal"  # resume a run's waiting wait.event step (signalRun), and read its resume URL
    MESSAGE_SEND = "message:send"
    WORKFLOW_WRITE = "workflow:write"
    WORKFLOW_PUBLISH = "workflow:publish"
    WORKFLOW_TEST = "workflow:test"  # test runs and test steps of the draft, and its pinned outputs
    TRIGGER_MANAGE = "trigger:manage"
    CREDENTIAL_MANAGE = "credential:manage"
    USER_MANAGE = "user:manage"
    APIKEY_MANAGE = "apikey:manage"
    AUDIT_READ = "audit:read"
    TENANT_MANAGE = "tenant:manage"  # the tenant's own settings (its default error workflow)
    CONVERSATION_MANAGE = "conversation:manage"  # agents' remembered conversations: list and delete


# What each role adds on top of the role below it.
_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset(
        {Permission.WORKFLOW_READ, Permission.RUN_READ, Permission.ARTIFACT_READ, Permission.TASK_READ}
    ),
    Role.APPROVER: frozenset({Permission.TASK_DECIDE}),
    Role.OPERATOR: frozenset(
        {
            Permission.RUN_START,
            Permission.RUN_CANCEL,
            Permission.RUN_RETRY,
            Permission.RUN_SIGNAL,
            Permission.MESSAGE_SEND,
        }
    ),
    Role.EDITOR: frozenset(
        {
            Permission.WORKFLOW_WRITE,
            Permission.WORKFLOW_PUBLISH,
            Permission.WORKFLOW_TEST,
            Permission.TRIGGER_MANAGE,
        }
    ),
    Role.ADMIN: frozenset(
        {
            Permission.CREDENTIAL_MANAGE,
            Permission.USER_MANAGE,
            Permission.APIKEY_MANAGE,
            Permission.AUDIT_READ,
            Permission.TENANT_MANAGE,
            Permission.CONVERSATION_MANAGE,
        }
    ),
}


def _cumulative() -> dict[Role, frozenset[Permission]]:
    out: dict[Role, frozenset[Permission]] = {}
    held: frozenset[Permission] = frozenset()
    for role in _ORDER:
        held = held | _GRANTS[role]
        out[role] = held
    return out


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = _cumulative()


def permissions_for(role: Role) -> frozenset[Permission]:
    return ROLE_PERMISSIONS[role]


def lowest_role_with(permission: Permission) -> Role:
    """The lowest role that holds ``permission`` (every permission is held by ADMIN at least)."""
    return next(role for role in _ORDER if permission in ROLE_PERMISSIONS[role])
