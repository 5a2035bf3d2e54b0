"""The sync client: ``StudioClient``.

Queries and mutations go through ariadne-codegen's generated sync client (``_generated_sync``, on
``httpx.Client``). ariadne-codegen generates no sync subscriptions, so ``run_events`` and ``start_run(wait=True)``
drive the async client's (same resumption, same polling fallback) on a private event loop of this client, created
at first use: call them from plain threads, not from inside a running event loop (use ``AsyncStudioClient`` there).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from typing import Any, TypeVar, cast

import httpx
from pydantic import BaseModel
from pydantic_core import to_jsonable_python as jsonable

from studio_client._generated.enums import Decision, HumanTaskStatus, RunStatus
from studio_client._generated_sync import GeneratedSyncClient
from studio_client._generated_sync.base_model import UNSET
from studio_client._generated_sync.enums import Decision as SyncDecision
from studio_client._generated_sync.enums import HumanTaskStatus as SyncHumanTaskStatus
from studio_client._generated_sync.enums import RunStatus as SyncRunStatus
from studio_client._generated_sync.exceptions import (
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    GraphQLClientInvalidResponseError,
)
from studio_client._generated_sync.input_types import RunFilter
from studio_client.aio import FINISHED, AsyncStudioClient, HumanTask, Run, RunEvent, endpoints, http_error
from studio_client.documents import DocumentMode, TrustedDocuments, response_errors
from studio_client.errors import ErrorDetail, GraphQLError, PayloadError, TransportError

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)


def _as(model: type[M], value: BaseModel) -> M:
    """A generated sync model as the package's shared type (the two generated packages have twin classes)."""
    return model.model_validate(value.model_dump(by_alias=True, mode="json"))


def _check(errors: list[Any]) -> None:
    refused = [e for e in errors if e.severity.value != "WARNING"]
    if refused:
        raise PayloadError([ErrorDetail(e.code, e.message, list(e.path)) for e in refused])


async def _next(events: AsyncIterator[RunEvent]) -> RunEvent:
    return await anext(events)


class _GeneratedSync(GeneratedSyncClient):
    """The generated sync client naming each request's document by id (``studio_client.documents``)."""

    documents: TrustedDocuments

    def _execute_json(
        self, query: str, operation_name: str | None, variables: dict[str, Any], **kwargs: Any
    ) -> httpx.Response:
        if not self.documents.sends_id(query):
            return cast(httpx.Response, super()._execute_json(query, operation_name, variables, **kwargs))
        body = {**self.documents.document(query), "operationName": operation_name, "variables": variables}
        response = cast(httpx.Response, self.http_client.post(url=self.url, json=jsonable(body), **kwargs))
        if self.documents.falls_back(query, response_errors(response)):
            return cast(httpx.Response, super()._execute_json(query, operation_name, variables, **kwargs))
        return response


class StudioClient:
    """The blocking twin of ``AsyncStudioClient`` (same methods, same errors)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        ws_url: str | None = None,
        reconnect_attempts: int = 5,
        reconnect_backoff: float = 0.2,
        documents: DocumentMode = "id-or-text",
    ) -> None:
        self.url, self._token, self._timeout, self._documents = url, token, timeout, documents
        self._ws_url, self._attempts, self._backoff = ws_url, reconnect_attempts, reconnect_backoff
        http_url, _ = endpoints(url)
        headers = {"Authorization": f"Bearer {token}"}
        self._http = httpx.Client(headers=headers, timeout=timeout)
        self.gql = _GeneratedSync(url=http_url, headers=headers, http_client=cast(Any, self._http))
        self.gql.documents = TrustedDocuments(documents)
        self._runner: asyncio.Runner | None = None
        self._async: AsyncStudioClient | None = None

    def __enter__(self) -> StudioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()
        if self._runner is not None:
            if self._async is not None:
                self._runner.run(self._async.aclose())
            self._runner.close()
            self._runner = self._async = None

    def _streaming(self) -> tuple[asyncio.Runner, AsyncStudioClient]:
        if self._runner is None or self._async is None:
            self._runner = asyncio.Runner()
            self._async = self._runner.run(self._make_async())
        return self._runner, self._async

    async def _make_async(self) -> AsyncStudioClient:
        return AsyncStudioClient(
            self.url,
            self._token,
            timeout=self._timeout,
            ws_url=self._ws_url,
            reconnect_attempts=self._attempts,
            reconnect_backoff=self._backoff,
            documents=self._documents,
        )

    def _call(self, request: Callable[[], T]) -> T:
        try:
            return request()
        except GraphQLClientGraphQLMultiError as exc:
            raise GraphQLError.from_dicts([e.original or {"message": e.message} for e in exc.errors]) from None
        except GraphQLClientHttpError as exc:
            raise http_error(exc.status_code, exc.response) from None
        except GraphQLClientInvalidResponseError as exc:
            raise TransportError(f"not a GraphQL answer (HTTP {exc.response.status_code})") from None
        except httpx.HTTPError as exc:
            raise TransportError(f"{type(exc).__name__}: {exc}") from None

    def start_run(
        self,
        workflow_id: str,
        input: Any = None,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
        wait: bool = False,
        timeout: float | None = None,
    ) -> Run:
        answer = self._call(
            lambda: self.gql.start_run(
                workflow_id,
                version=UNSET if version is None else version,
                input=UNSET if input is None else input,
                idempotency_key=UNSET if idempotency_key is None else idempotency_key,
            )
        ).start_run
        _check(answer.errors)
        if answer.run is None:
            raise PayloadError([ErrorDetail("NO_RUN", "startRun answered without a run")])
        run = _as(Run, answer.run)
        if not wait or run.status in FINISHED:
            return run
        return self.wait_for_run(run.id, timeout=timeout)

    def wait_for_run(self, run_id: str, *, timeout: float | None = None, poll_interval: float = 1.0) -> Run:
        runner, client = self._streaming()
        return runner.run(client.wait_for_run(run_id, timeout=timeout, poll_interval=poll_interval))

    def run_events(self, run_id: str, after_seq: int | None = None) -> Iterator[RunEvent]:
        runner, client = self._streaming()
        events = client.run_events(run_id, after_seq)
        try:
            while True:
                try:
                    event = runner.run(_next(events))
                except StopAsyncIteration:
                    return
                yield event
        finally:
            runner.run(events.aclose())

    def get_run(self, run_id: str) -> Run | None:
        found = self._call(lambda: self.gql.get_run(run_id)).run
        return None if found is None else _as(Run, found)

    def list_runs(
        self,
        *,
        status: list[RunStatus] | None = None,
        workflow_id: str | None = None,
        created_after: datetime | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> list[Run]:
        filter_ = RunFilter(
            status=None if status is None else [SyncRunStatus(s.value) for s in status],
            workflowId=workflow_id,
            createdAfter=created_after,
        )
        answer = self._call(
            lambda: self.gql.list_runs(first=first, after=UNSET if after is None else after, filter_=filter_)
        )
        return [_as(Run, r) for r in answer.runs.nodes]

    def cancel_run(self, run_id: str) -> Run:
        answer = self._call(lambda: self.gql.cancel_run(run_id)).cancel_run
        _check(answer.errors)
        assert answer.run is not None  # noqa: S101 - no errors means a run
        return _as(Run, answer.run)

    def retry_run(self, run_id: str, from_step: str | None = None) -> Run:
        answer = self._call(
            lambda: self.gql.retry_run(run_id, from_step=UNSET if from_step is None else from_step)
        ).retry_run
        _check(answer.errors)
        assert answer.run is not None  # noqa: S101
        return _as(Run, answer.run)

    def signal_run(self, run_id: str, name: str, payload: Any = None) -> Run:
        answer = self._call(
            lambda: self.gql.signal_run(run_id, name, payload=UNSET if payload is None else payload)
        ).signal_run
        _check(answer.errors)
        assert answer.run is not None  # noqa: S101
        return _as(Run, answer.run)

    def list_tasks(
        self,
        *,
        status: HumanTaskStatus | None = None,
        assigned_to_me: bool | None = None,
        first: int = 50,
        after: str | None = None,
    ) -> list[HumanTask]:
        answer = self._call(
            lambda: self.gql.list_tasks(
                status=UNSET if status is None else SyncHumanTaskStatus(status.value),
                assigned_to_me=UNSET if assigned_to_me is None else assigned_to_me,
                first=first,
                after=UNSET if after is None else after,
            )
        )
        return [_as(HumanTask, t) for t in answer.human_tasks.nodes]

    def get_task(self, task_id: str) -> HumanTask | None:
        found = self._call(lambda: self.gql.get_task(task_id)).human_task
        return None if found is None else _as(HumanTask, found)

    def decide_task(
        self, task_id: str, decision: Decision | str, *, comment: str | None = None, data: Any = None
    ) -> HumanTask:
        chosen = SyncDecision(decision.upper() if isinstance(decision, str) else decision.value)
        answer = self._call(
            lambda: self.gql.decide_task(
                task_id,
                chosen,
                comment=UNSET if comment is None else comment,
                data=UNSET if data is None else data,
            )
        ).decide_human_task
        _check(answer.errors)
        assert answer.task is not None  # noqa: S101
        return _as(HumanTask, answer.task)
