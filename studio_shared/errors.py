"""The studio's error hierarchy; the GraphQL layer maps these onto payload errors.

StudioError
├── NotFound            an id that does not exist *or belongs to another tenant*
├── Conflict            a stale revision, a duplicate name, a state that forbids the action
├── ValidationFailed    user input broke one or more rules; carries every Problem found
├── Unauthenticated     no credentials, or credentials that do not verify
├── Forbidden           authenticated, but the role lacks the permission
└── RateLimited         a tenant over one of its admission limits: retry after ``retry_after_s``
    └── TooManyLiveRuns     the tenant already has its cap of live runs (queued, running or waiting)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning"]
ERROR: Severity = "error"
WARNING: Severity = "warning"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with user input; `path` points at it, e.g. ("nodes", "2", "config", "url").

    An ``error`` makes the input invalid; a ``warning`` is worth a look but blocks nothing.
    """

    path: tuple[str, ...]
    message: str
    code: str = "INVALID"
    severity: Severity = ERROR

    @property
    def dotted(self) -> str:
        """The path as users read it: ``nodes[2].config.url``."""
        out = ""
        for part in self.path:
            out += f"[{part}]" if part.isdigit() else (f".{part}" if out else part)
        return out


class StudioError(Exception):
    """Base of every error the studio raises on purpose."""

    code = "ERROR"


class NotFound(StudioError):
    code = "NOT_FOUND"

    def __init__(self, kind: str, id: object) -> None:
        super().__init__(f"{kind} {str(id)!r} not found")
        self.kind, self.id = kind, str(id)


class Conflict(StudioError):
    code = "CONFLICT"

    def __init__(self, message: str, path: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.path = tuple(path)


@dataclass
class ValidationFailed(StudioError):
    problems: list[Problem] = field(default_factory=list)
    code = "INVALID"

    def __init__(self, problems: Iterable[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(f"{p.dotted or '<root>'}: {p.message}" for p in self.problems) or "invalid input")

    @classmethod
    def one(cls, path: Sequence[str], message: str, code: str = "INVALID") -> ValidationFailed:
        return cls([Problem(tuple(path), message, code)])


class Unauthenticated(StudioError):
    code = "UNAUTHENTICATED"

    def __init__(self, message: str = "authentication required: send 'Authorization: Bearer <token>'") -> None:
        super().__init__(message)


class Forbidden(StudioError):
    code = "FORBIDDEN"

    def __init__(self, permission: str) -> None:
        super().__init__(f"your role lacks the permission {permission!r}")
        self.permission = permission


class RateLimited(StudioError):
    """Refused for now, not for good: the tenant is over one of its limits on starting runs; nothing was stored.

    Every transport maps it the same way: GraphQL ``code`` with ``retryable`` and ``retryAfterS``, HTTP 429 with
    ``Retry-After``; the scheduler waits for its turn and tries again.
    """

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after_s: float) -> None:
        super().__init__(message)
        self.retry_after_s = max(0.01, retry_after_s)


class TooManyLiveRuns(RateLimited):
    code = "TOO_MANY_LIVE_RUNS"
    RETRY_AFTER_S = 5.0  # a hint: live runs end at their own pace, so no turn can be promised

    def __init__(self, limit: int, live: int, adding: int = 1) -> None:
        has = f"{live}" if live < limit else f"{limit} already"
        more = "one more" if adding == 1 else f"{adding} more"
        super().__init__(
            f"your tenant may have at most {limit} live runs (queued, running or waiting; child runs count too) "
            f"and has {has}: {more} would exceed that. Retry once some have finished, or cancel runs you no longer "
            "need",
            self.RETRY_AFTER_S,
        )
        self.limit, self.live, self.adding = limit, live, adding
