"""Outbound HTTP that cannot reach private networks: the one way nodes make requests (SSRF protection).

    async with guarded_client(policy, timeout=httpx.Timeout(10)) as client:
        request = client.build_request("POST", check_url(user_url, policy), json=payload)
        response = await send(client, request, max_response_bytes=1 << 20, on_redirect=credential_may_follow)

Three layers, so that no single mistake opens a hole:

* ``check_url`` (also run by the transport on every request): http/https only, a host, no ``user:pass@``, no
  numeric host spelled other than as a canonical address, no ``localhost``, no blocked IP literal.
* ``GuardedBackend``, under every connection: resolves the host once, refuses it if any answer is blocked,
  and dials the checked address itself, so no later lookup (DNS rebinding) can change the target.
* ``checked_addresses`` / ``connect_socket``: the same one-lookup check for SMTP and PostgreSQL servers.
* ``send``: follows redirects by hand, re-checking each hop, dropping credentials that would leave the origin,
  and reads the body with a size bound.

Exceptions::

    EgressError
    ├── EgressDenied       the policy refuses the URL, a redirect or a resolved address
    ├── TooManyRedirects
    └── ResponseTooLarge
    (network failures and timeouts stay httpx's: httpx.ConnectError, httpx.TimeoutException, ...)
"""

from studio_worker.egress._addresses import blocked_reason
from studio_worker.egress._errors import EgressDenied, EgressError, ResponseTooLarge, TooManyRedirects
from studio_worker.egress._policy import EgressPolicy, check_url
from studio_worker.egress._send import SENSITIVE_HEADERS, GuardedResponse, OnRedirect, send
from studio_worker.egress._sockets import CannotConnect, checked_addresses, connect_socket
from studio_worker.egress._transport import (
    GuardedBackend,
    GuardedClient,
    GuardedTransport,
    Resolver,
    guarded_client,
    system_resolver,
)

__all__ = [
    "SENSITIVE_HEADERS",
    "CannotConnect",
    "EgressDenied",
    "EgressError",
    "EgressPolicy",
    "GuardedBackend",
    "GuardedClient",
    "GuardedResponse",
    "GuardedTransport",
    "OnRedirect",
    "Resolver",
    "ResponseTooLarge",
    "TooManyRedirects",
    "blocked_reason",
    "check_url",
    "checked_addresses",
    "connect_socket",
    "guarded_client",
    "send",
    "system_resolver",
]
