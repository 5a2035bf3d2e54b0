"""Typed errors: every failure of a call is a ``StudioError`` carrying the server's code and message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorDetail:
    """One problem the server reported: its stable code (``NOT_FOUND``, ``FORBIDDEN``…), message and path."""

    code: str
    message: str
    path: list[str] = field(default_factory=list)


class StudioError(Exception):
    """Base of the client's errors; ``code`` and ``message`` are the first problem's, ``errors`` all of them."""

    def __init__(self, errors: list[ErrorDetail]) -> None:
        self.errors = errors or [ErrorDetail("UNKNOWN", "the server gave no reason")]
        first = self.errors[0]
        self.code, self.message, self.path = first.code, first.message, first.path
        super().__init__("; ".join(f"{e.code}: {e.message}" for e in self.errors))


class GraphQLError(StudioError):
    """The server refused the request itself (top-level ``errors``): not signed in, not allowed, invalid document,
    rate limited… ``code`` is the error's ``extensions.code``."""

    @classmethod
    def from_dicts(cls, errors: list[dict[str, Any]]) -> GraphQLError:
        details = []
        for error in errors:
            extensions = error.get("extensions") or {}
            code = extensions.get("code") if isinstance(extensions, dict) else None
            details.append(
                ErrorDetail(
                    code=str(code or "GRAPHQL_ERROR"),
                    message=str(error.get("message", "")),
                    path=[str(p) for p in error.get("path") or []],
                )
            )
        return cls(details)


class PayloadError(StudioError):
    """A mutation answered with ``errors`` in its payload (the input is wrong or the action is refused: a task
    already decided, an unknown workflow…); ``path`` points at the offending input field."""


class HTTPStatusError(StudioError):
    """The server answered with a non-2xx HTTP status."""

    def __init__(self, status_code: int, errors: list[ErrorDetail]) -> None:
        self.status_code = status_code
        super().__init__(errors)


class TransportError(StudioError):
    """The server could not be reached (or the live socket kept failing past the reconnection attempts)."""

    def __init__(self, message: str) -> None:
        super().__init__([ErrorDetail("TRANSPORT", message)])


class WaitTimeout(StudioError, TimeoutError):
    """``start_run(wait=True)`` / ``wait_for_run`` gave up before the run finished; ``run_id`` names it."""

    def __init__(self, run_id: str, timeout: float) -> None:
        self.run_id = run_id
        super().__init__([ErrorDetail("WAIT_TIMEOUT", f"run {run_id} did not finish within {timeout:g} s")])
