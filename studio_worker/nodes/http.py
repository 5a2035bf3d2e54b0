"""``http.request``: one HTTP call through the egress guard, with an optional credential.

The same ``call`` serves agent tools. A credential's headers are added only for hosts it allows, dropped
when a redirect leaves the origin, and a redirect to a host the credential does not allow stops the call.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from studio_shared.credentials import ResolvedCredential
from studio_shared.db import jsondata
from studio_worker.egress import EgressDenied, EgressError, ResponseTooLarge, TooManyRedirects, check_url, send
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec

BODYLESS = {"GET", "HEAD", "OPTIONS"}
MAX_REDIRECTS = 5
ERROR_BODY_CHARS = 300


async def call(ctx: NodeContext, config: dict[str, Any]) -> dict[str, Any]:
    """Make the request ``config`` describes; the output dict, or a NodeError saying what went wrong."""
    services = ctx.need_services()
    method = str(config.get("method") or "GET").upper()
    try:
        url = check_url(str(config["url"]), services.policy)
    except EgressDenied as exc:
        raise NodeError("EgressDenied", f"{exc}: check config.url") from None
    if config.get("query"):
        url = url.copy_merge_params({k: _scalar(v) for k, v in config["query"].items()})
    headers = {str(k): str(v) for k, v in (config.get("headers") or {}).items()}
    credential: ResolvedCredential | None = None
    if config.get("credential"):
        credential = await ctx.credential(str(config["credential"]))
        if not credential.host_allowed(url.host, url.port):
            raise NodeError(
                "CredentialHostNotAllowed",
                f"credential {credential.name!r} may not be sent to {url.host}: add the host to its allowed hosts",
            )
        headers.update(credential.headers())
    headers.setdefault("Idempotency-Key", ctx.idempotency_key)

    def on_redirect(target: httpx.URL) -> bool:
        # A credential's allowlist covers every hop: a redirect elsewhere stops the call (its headers would be
        # dropped anyway when the origin changes, but the target would still learn the request).
        return credential is None or credential.host_allowed(target.host, target.port)

    timeout_s = float(config.get("timeout_s") or 30)
    timeout = httpx.Timeout(timeout_s, connect=float(config.get("connect_timeout_s") or 10))
    limit = int(config.get("max_response_bytes") or 10 * 1024 * 1024)
    follow = bool(config.get("follow_redirects", True))
    try:
        async with services.http_client(timeout) as client:
            request = client.build_request(method, url, headers=headers, **_body(method, config))
            async with asyncio.timeout(timeout_s):
                response = await send(
                    client,
                    request,
                    policy=services.policy,
                    follow_redirects=follow,
                    max_redirects=MAX_REDIRECTS,
                    max_response_bytes=limit,
                    on_redirect=on_redirect,
                    credential_headers=credential.headers() if credential else (),
                )
    except EgressDenied as exc:
        raise NodeError("EgressDenied", str(exc)) from None
    except TooManyRedirects as exc:
        raise NodeError("TooManyRedirects", str(exc)) from None
    except ResponseTooLarge as exc:
        raise NodeError("ResponseTooLarge", f"{exc}: raise config.max_response_bytes if that is expected") from None
    except EgressError as exc:
        raise NodeError("HttpError", str(exc)) from None
    except (TimeoutError, httpx.TimeoutException):
        raise NodeError("Timeout", f"{method} {url.host} took longer than {timeout_s:g} s", retryable=True) from None
    except httpx.HTTPError as exc:
        raise NodeError(
            "ConnectionError", f"{method} {url.host} failed: {type(exc).__name__}", retryable=True
        ) from None
    body = _parse(response.body, response.headers.get("content-type", ""), str(config.get("parse") or "auto"))
    if config.get("fail_on_status", True) and response.status >= 400:
        snippet = response.body[:ERROR_BODY_CHARS].decode("utf-8", "replace")
        raise NodeError(
            "HttpStatus",
            f"{method} {url.host} answered {response.status}: {snippet}",
            retryable=response.status >= 500 or response.status == 429,
        )
    ctx.log(f"{method} {url.host}{url.path} -> {response.status} ({len(response.body)} bytes)")
    return {"status": response.status, "headers": response.headers, "body": body}


def _scalar(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _body(method: str, config: dict[str, Any]) -> dict[str, Any]:
    body = config.get("body")
    if method in BODYLESS or body is None:
        return {}
    kind = config.get("body_type") or "json"
    if kind == "text":
        return {"content": body if isinstance(body, str) else json.dumps(body)}
    if kind == "form":
        if not isinstance(body, dict):
            raise NodeError("InvalidConfig", "a form body must be an object: check config.body")
        return {"data": {str(k): _scalar(v) for k, v in body.items()}}
    return {"json": body}


def _parse(raw: bytes, content_type: str, mode: str) -> Any:
    if not raw:
        return None
    is_json = "json" in content_type.split(";")[0].lower()
    if mode == "json" or (mode == "auto" and is_json):
        try:
            return jsondata.loads(raw)  # standard JSON: a NaN in it is text, not a number nothing could store
        except ValueError:
            if mode == "json":
                raise NodeError("InvalidResponse", "the response is not valid JSON (config.parse is json)") from None
    return raw.decode("utf-8", "replace")


async def http_request(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    return NodeResult(output=await call(ctx, config))


SPECS = [NodeSpec("http.request", http_request)]
