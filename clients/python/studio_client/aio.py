"""The async client: ``AsyncStudioClient``, over ariadne-codegen's generated client (``_generated``)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast

import httpx
from pydantic_core import to_jsonable_python as jsonable
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from studio_client._generated import GeneratedClient
from studio_client._generated.base_model import UNSET
from studio_client._generated.enums import Decision, HumanTaskStatus, RunStatus
from studio_client._generated.exceptions import (
    GraphQLClientError,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    GraphQLClientInvalidResponseError,
)
from studio_client._generated.fragments import HumanTaskFields, RunEventFields, RunFields, UserErrorFields
from studio_client._generated.input_types import RunFilter
from studio_client._generated.run_events import RunEvents
from studio_client.documents import DocumentMode, TrustedDocuments, response_errors
from studio_client.errors import ErrorDetail, GraphQLError, HTTPStatusError, PayloadError, TransportError, WaitTimeout

Run = RunFields
RunEvent = RunEventFields
HumanTask = HumanTaskFields
UserError = UserErrorFields

FINISHED = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
T = TypeVar("T")


def endpoints(url: str) -> tuple[str, str]:
    """(HTTP, websocket) GraphQL endpoints of a server: ``http://host:8000`` or ``…/graphql`` both work."""
    base = url.rstrip("/")
    if not base.endswith("/graphql"):
        base += "/graphql"
    if base.startswith("https://"):
        return base, "wss://" + base.removeprefix("https://")
    if base.startswith("http://"):
        return base, "ws://" + base.removeprefix("http://")
    raise ValueError(f"the server URL must start with http:// or https://, not {url!r}")


def http_error(status_code: int, response: Any) -> HTTPStatusError:
    """A non-2xx answer as ``HTTPStatusError``, with the GraphQL errors of its body when it has some."""
    details: list[ErrorDetail] = []
    try:
        body = response.json()
        errors = body.get("errors") if isinstance(body, dict) else None
        if isinstance(errors, list):
            details = GraphQLError.from_dicts(errors).errors
    except ValueError:
        pass
    return HTTPStatusError(status_code, details or [ErrorDetail(f"HTTP_{status_code}", "request refused")])


def payload_errors(errors: list[UserErrorFields]) -> None:
    """Raise ``PayloadError`` for a payload's errors (warnings alone pass)."""
    refused = [e for e in errors if e.severity.value != "WARNING"]
    if refused:
        raise PayloadError([ErrorDetail(e.code, e.message, list(e.path)) for e in refused])


@dataclass
class _Stream:
    completed: bool = False  # the server sent `complete` (as opposed to the socket closing under us)


_COMPLETE = "__studio_complete__"
_RETRYABLE = (ConnectionClosed, InvalidHandshake, OSError, TimeoutError, asyncio.TimeoutError)


def refusal(closed: ConnectionClosed) -> GraphQLError | None:
    """A socket the server closed with a 44xx code refused us (bad or revoked credentials, a malformed message):
    trying again would not help. Other closes (1011, 1013, a lost connection…) are worth a reconnection."""
    frame = closed.rcvd
    if frame is None or not 4400 <= frame.code < 4500:
        return None
    code = {4401: "UNAUTHENTICATED", 4403: "FORBIDDEN", 4429: "RATE_LIMITED"}.get(frame.code, f"CLOSED_{frame.code}")
    return GraphQLError([ErrorDetail(code, frame.reason or "the server closed the socket")])


class _Generated(GeneratedClient):
    """The generated client with two fixes to its websocket handling: a ``next`` carrying ``errors`` raises (the
    generated code drops it silently), and a server's ``complete`` is told apart from a closed socket; and trusted
    documents: each request names its document by id (``studio_client.documents``)."""

    documents: TrustedDocuments

    async def _execute_json(
        self, query: str, operation_name: str | None, variables: dict[str, Any], **kwargs: Any
    ) -> httpx.Response:
        if not self.documents.sends_id(query):
            return cast(httpx.Response, await super()._execute_json(query, operation_name, variables, **kwargs))
        body = {**self.documents.document(query), "operationName": operation_name, "variables": variables}
        response = cast(httpx.Response, await self.http_client.post(url=self.url, json=jsonable(body), **kwargs))
        if self.documents.falls_back(query, response_errors(response)):
            return cast(httpx.Response, await super()._execute_json(query, operation_name, variables, **kwargs))
        return response

    async def _send_subscribe(
        self,
        websocket: Any,
        operation_id: str,
        query: str,
        operation_name: str | None = None,
        variables: dict[str, Any] | None = None,
    ) -> None:
        payload: dict[str, Any] = {**self.documents.document(query), "operationName": operation_name}
        if variables:
            payload["variables"] = self._convert_dict_to_json_serializable(variables)
        await websocket.send(json.dumps({"id": operation_id, "type": "subscribe", "payload": payload}))

    async def _handle_ws_message(
        self, message: Any, websocket: Any, expected_type: Any = None
    ) -> dict[str, Any] | None:
        try:
            decoded = json.loads(message)
        except (TypeError, ValueError):
            decoded = None
        if isinstance(decoded, dict):
            payload = decoded.get("payload")
            if decoded.get("type") == "next" and isinstance(payload, dict) and payload.get("errors"):
                raise GraphQLClientGraphQLMultiError.from_errors_dicts(payload["errors"])
            if decoded.get("type") == "complete":
                await websocket.close()
                return {_COMPLETE: True}
        result: dict[str, Any] | None = await super()._handle_ws_message(message, websocket, expected_type)
        return result

    async def execute_ws(
        self, query: str, operation_name: str | None = None, variables: dict[str, Any] | None = None, **kwargs: Any
    ) -> AsyncIterator[dict[str, Any]]:
        stream: _Stream | None = kwargs.pop("studio_stream", None)
        for attempt in (1, 2):
            inner = cast(
                AsyncGenerator[dict[str, Any], None], super().execute_ws(query, operation_name, variables, **kwargs)
            )
            async with aclosing(inner):  # leaving early closes the socket now, not when the generator is collected
                try:
                    async for data in inner:
                        if data.get(_COMPLETE):
                            if stream is not None:
                                stream.completed = True
                            return
                        yield data
                except GraphQLClientGraphQLMultiError as exc:
                    # The server lacks the document's id (answered before any event): once more, with the text.
                    errors = [e.original or {} for e in exc.errors]
                    if attempt == 2 or not self.documents.falls_back(query, errors):
                        raise
                    continue
                return


class AsyncStudioClient:
    """A client of one server as one principal (a user's access token or an API key).

    >>> async with AsyncStudioClient("http://127.0.0.1:8000", token="wst_…") as studio:
    ...     run = await studio.start_run(workflow_id, input={"amount": 7}, wait=True)
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        ws_url: str | None = None,
        reconnect_attempts: int = 5,
        reconnect_backoff: float = 0.2,
        http_client: httpx.AsyncClient | None = None,
        documents: DocumentMode = "id-or-text",
    ) -> None:
        """``documents``: send each document's id (``"id-or-text"``: falling back to its text on a server without
        it; ``"id"``: never the text) or its text (``"text"``); see ``studio_client.documents``."""
        http_url, default_ws = endpoints(url)
        headers = {"Authorization": f"Bearer {token}"}
        self._http = http_client or httpx.AsyncClient(headers=headers, timeout=timeout)
        self.reconnect_attempts = reconnect_attempts
        self.reconnect_backoff = reconnect_backoff
        self.gql = _Generated(
            url=http_url,
            headers=headers,
            http_client=cast(Any, self._http),  # httpx's post is wider than the generated protocol
            ws_url=ws_url or default_ws,
            ws_connection_init_payload={"authorization": f"Bearer {token}"},
        )
        self.gql.documents = TrustedDocuments(documents)

    async def __aenter__(self) -> AsyncStudioClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, request: Callable[[], Awaitable[T]]) -> T:
        """Run one generated call, turning its failures into the client's typed errors."""
        try:
            return await request()
        except GraphQLClientGraphQLMultiError as exc:
            raise GraphQLError.from_dicts([e.original or {"message": e.message} for e in exc.errors]) from None
        except GraphQLClientHttpError as exc:
            raise http_error(exc.status_code, exc.response) from None
        except GraphQLClientInvalidResponseError as exc:
            raise TransportError(f"not a GraphQL answer (HTTP {exc.response.status_code})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    # --- runs ------------------------------------------------------------------------------------------------------

    async def start_run(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = None,  # noqa: ASYNC109 - a whole wait, not one call
    ) -> Run:
        """Start a run of the workflow's published version (the latest unless ``version``); with ``wait``, return
        it once finished (SUCCEEDED, FAILED or CANCELLED), waiting through approvals and events."""
        answer = await self._call(
            lambda: self.gql.start_run(
                workflow_id,
                version=UNSET if version is None else version,
                input=UNSET if input is None else input,
                idempotency_key=UNSET if idempotency_key is None else idempotency_key,
            )
        )
        payload_errors(answer.start_run.errors)
        run = answer.start_run.run
        if run is None:
            raise PayloadError([ErrorDetail("NO_RUN", "startRun answered without a run")])
        if not wait or run.status in FINISHED:
            return run
        return await self.wait_for_run(run.id, timeout=timeout)

    async def get_run(self, run_id: str) -> Run | None:
        """The run, or None when unknown (or another tenant's)."""
        return (await self._call(lambda: self.gql.get_run(run_id))).run

    async def list_runs(
        self,
        *,
        status: list[RunStatus] | None = None,
        workflow_id: str | None = None,
        created_after: datetime | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> list[Run]:
        """Runs of the tenant, newest first (one page of ``first``)."""
        filter_ = RunFilter(status=status, workflowId=workflow_id, createdAfter=created_after)
        answer = await self._call(
            lambda: self.gql.list_runs(first=first, after=UNSET if after is None else after, filter_=filter_)
        )
        return list(answer.runs.nodes)

    async def cancel_run(self, run_id: str) -> Run:
        answer = (await self._call(lambda: self.gql.cancel_run(run_id))).cancel_run
        payload_errors(answer.errors)
        assert answer.run is not None  # noqa: S101 - no errors means a run
        return answer.run

    async def retry_run(self, run_id: str, from_step: str | None = None) -> Run:
        answer = (
            await self._call(lambda: self.gql.retry_run(run_id, from_step=UNSET if from_step is None else from_step))
        ).retry_run
        payload_errors(answer.errors)
        assert answer.run is not None  # noqa: S101
        return answer.run

    async def signal_run(self, run_id: str, name: str, payload: Any = None) -> Run:
        """Resume the run's waiting ``wait.event`` step named ``name`` with ``payload``."""
        answer = (
            await self._call(lambda: self.gql.signal_run(run_id, name, payload=UNSET if payload is None else payload))
        ).signal_run
        payload_errors(answer.errors)
        assert answer.run is not None  # noqa: S101
        return answer.run

    async def run_events(self, run_id: str, after_seq: int | None = None) -> AsyncGenerator[RunEvent, None]:
        """The run's events after ``after_seq`` (stored ones, then live), ending after its final event.

        A dropped socket is reopened (``reconnect_attempts`` times in a row at most, backing off) and the
        subscription resumed after the last event received: no event is repeated or lost. A refusal by the server
        (unknown run, not allowed) raises ``GraphQLError`` at once; a socket that keeps failing, ``TransportError``.
        """
        last = after_seq
        failures = 0
        while True:
            stream = _Stream()
            try:
                messages = cast(
                    AsyncGenerator[RunEvents, None],
                    self.gql.run_events(run_id, after_seq=UNSET if last is None else last, studio_stream=stream),
                )
                async with aclosing(messages):
                    async for message in messages:
                        event = message.run_events
                        if last is not None and event.seq <= last:
                            continue
                        last, failures = event.seq, 0
                        yield event
                        if event.final:
                            return
                if stream.completed:
                    return
                problem = "the server closed the socket"
            except GraphQLClientGraphQLMultiError as exc:
                raise GraphQLError.from_dicts([e.original or {"message": e.message} for e in exc.errors]) from None
            except ConnectionClosed as exc:
                refused = refusal(exc)
                if refused is not None:
                    raise refused from None
                problem = f"{type(exc).__name__}: {exc}"
            except (*_RETRYABLE, GraphQLClientError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            failures += 1
            if failures > self.reconnect_attempts:
                raise TransportError(f"runEvents of run {run_id}: {problem} ({failures} attempts in a row)")
            await asyncio.sleep(min(self.reconnect_backoff * 2 ** (failures - 1), 5.0))

    async def wait_for_run(
        self,
        run_id: str,
        *,
        timeout: float | None = None,  # noqa: ASYNC109 - a whole wait, not one call
        poll_interval: float = 1.0,
    ) -> Run:
        """The run once finished: followed on ``runEvents`` until its final event, or polled with ``run(id)`` every
        ``poll_interval`` seconds when the socket fails. ``WaitTimeout`` after ``timeout`` seconds (None: no limit)."""
        try:
            async with asyncio.timeout(timeout):
                try:
                    async with aclosing(self.run_events(run_id)) as events:
                        async for event in events:
                            if event.final:
                                break
                except TransportError:
                    pass  # the socket failed: poll below
                while True:
                    run = await self.get_run(run_id)
                    if run is None:
                        raise PayloadError([ErrorDetail("NOT_FOUND", f"run {run_id} is unknown", ["id"])])
                    if run.status in FINISHED:
                        return run
                    await asyncio.sleep(poll_interval)
        except TimeoutError:
            raise WaitTimeout(run_id, timeout or 0.0) from None

    # --- human tasks -----------------------------------------------------------------------------------------------

    async def list_tasks(
        self,
        *,
        status: HumanTaskStatus | None = None,
        assigned_to_me: bool | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> list[HumanTask]:
        """The tenant's human tasks, newest first."""
        answer = await self._call(
            lambda: self.gql.list_tasks(
                status=UNSET if status is None else status,
                assigned_to_me=UNSET if assigned_to_me is None else assigned_to_me,
                first=first,
                after=UNSET if after is None else after,
            )
        )
        return list(answer.human_tasks.nodes)

    async def get_task(self, task_id: str) -> HumanTask | None:
        return (await self._call(lambda: self.gql.get_task(task_id))).human_task

    async def decide_task(
        self, task_id: str, decision: Decision | str, *, comment: str | None = None, data: Any = None
    ) -> HumanTask:
        """Approve or reject a human task (``Decision.APPROVE`` / ``"REJECT"``); ``data`` fills its form."""
        chosen = Decision(decision.upper()) if isinstance(decision, str) else decision
        answer = (
            await self._call(
                lambda: self.gql.decide_task(
                    task_id,
                    chosen,
                    comment=UNSET if comment is None else comment,
                    data=UNSET if data is None else data,
                )
            )
        ).decide_human_task
        payload_errors(answer.errors)
        assert answer.task is not None  # noqa: S101
        return answer.task


__all__ = ["FINISHED", "AsyncStudioClient", "HumanTask", "Run", "RunEvent", "RunEvents", "UserError"]
