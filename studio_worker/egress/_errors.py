"""The egress exceptions; every message names the host and never the URL's credentials, path or query."""

from __future__ import annotations


class EgressError(Exception):
    """Base of every refusal by the egress guard (network failures stay httpx exceptions)."""


class EgressDenied(EgressError):
    """The URL, a redirect target or a resolved address is not allowed by the policy."""

    def __init__(self, message: str, *, host: str | None = None) -> None:
        super().__init__(message)
        self.host = host


class TooManyRedirects(EgressError):
    def __init__(self, limit: int, host: str) -> None:
        super().__init__(f"more than {limit} redirects (the last one came from {host})")
        self.limit, self.host = limit, host


class ResponseTooLarge(EgressError):
    def __init__(self, limit: int, host: str) -> None:
        super().__init__(f"the response from {host} is larger than {limit} bytes")
        self.limit, self.host = limit, host
