from collections.abc import AsyncIterator
from typing import Any, Optional, Union

from .async_base_client import AsyncBaseClient
from .base_model import UNSET, UnsetType
from .cancel_run import CancelRun
from .decide_task import DecideTask
from .enums import Decision, HumanTaskStatus
from .get_run import GetRun
from .get_task import GetTask
from .input_types import RunFilter
from .list_runs import ListRuns
from .list_tasks import ListTasks
from .retry_run import RetryRun
from .run_events import RunEvents
from .run_history import RunHistory
from .signal_run import SignalRun
from .start_run import StartRun


def gql(q: str) -> str:
    return q


class GeneratedClient(AsyncBaseClient):
    async def start_run(
        self,
        workflow_id: str,
        version: Union[Optional[int], UnsetType] = UNSET,
        input: Union[Optional[Any], UnsetType] = UNSET,
        idempotency_key: Union[Optional[str], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> StartRun:
        query = gql("""
            mutation StartRun($workflowId: ID!, $version: Int, $input: JSON, $idempotencyKey: String) {
              startRun(
                workflowId: $workflowId
                version: $version
                input: $input
                idempotencyKey: $idempotencyKey
              ) {
                run {
                  ...RunFields
                }
                created
                errors {
                  ...UserErrorFields
                }
              }
            }

            fragment RunFields on Run {
              id
              version
              status
              trigger
              test
              idempotencyKey
              createdAt
              startedAt
              finishedAt
              input
              output
              error
              workflow {
                id
                name
              }
            }

            fragment UserErrorFields on UserError {
              path
              message
              code
              severity
            }
            """)
        variables: dict[str, object] = {
            "workflowId": workflow_id,
            "version": version,
            "input": input,
            "idempotencyKey": idempotency_key,
        }
        response = await self.execute(
            query=query, operation_name="StartRun", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return StartRun.model_validate(data)

    async def cancel_run(self, id: str, **kwargs: Any) -> CancelRun:
        query = gql("""
            mutation CancelRun($id: ID!) {
              cancelRun(id: $id) {
                run {
                  ...RunFields
                }
                errors {
                  ...UserErrorFields
                }
              }
            }

            fragment RunFields on Run {
              id
              version
              status
              trigger
              test
              idempotencyKey
              createdAt
              startedAt
              finishedAt
              input
              output
              error
              workflow {
                id
                name
              }
            }

            fragment UserErrorFields on UserError {
              path
              message
              code
              severity
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="CancelRun", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return CancelRun.model_validate(data)

    async def retry_run(
        self, id: str, from_step: Union[Optional[str], UnsetType] = UNSET, **kwargs: Any
    ) -> RetryRun:
        query = gql("""
            mutation RetryRun($id: ID!, $fromStep: String) {
              retryRun(id: $id, fromStep: $fromStep) {
                run {
                  ...RunFields
                }
                errors {
                  ...UserErrorFields
                }
              }
            }

            fragment RunFields on Run {
              id
              version
              status
              trigger
              test
              idempotencyKey
              createdAt
              startedAt
              finishedAt
              input
              output
              error
              workflow {
                id
                name
              }
            }

            fragment UserErrorFields on UserError {
              path
              message
              code
              severity
            }
            """)
        variables: dict[str, object] = {"id": id, "fromStep": from_step}
        response = await self.execute(
            query=query, operation_name="RetryRun", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return RetryRun.model_validate(data)

    async def signal_run(
        self,
        run_id: str,
        name: str,
        payload: Union[Optional[Any], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> SignalRun:
        query = gql("""
            mutation SignalRun($runId: ID!, $name: String!, $payload: JSON) {
              signalRun(runId: $runId, name: $name, payload: $payload) {
                run {
                  ...RunFields
                }
                errors {
                  ...UserErrorFields
                }
              }
            }

            fragment RunFields on Run {
              id
              version
              status
              trigger
              test
              idempotencyKey
              createdAt
              startedAt
              finishedAt
              input
              output
              error
              workflow {
                id
                name
              }
            }

            fragment UserErrorFields on UserError {
              path
              message
              code
              severity
            }
            """)
        variables: dict[str, object] = {
            "runId": run_id,
            "name": name,
            "payload": payload,
        }
        response = await self.execute(
            query=query, operation_name="SignalRun", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return SignalRun.model_validate(data)

    async def decide_task(
        self,
        id: str,
        decision: Decision,
        comment: Union[Optional[str], UnsetType] = UNSET,
        data: Union[Optional[Any], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> DecideTask:
        query = gql("""
            mutation DecideTask($id: ID!, $decision: Decision!, $comment: String, $data: JSON) {
              decideHumanTask(id: $id, decision: $decision, comment: $comment, data: $data) {
                task {
                  ...HumanTaskFields
                }
                errors {
                  ...UserErrorFields
                }
              }
            }

            fragment HumanTaskFields on HumanTask {
              id
              stepId
              status
              title
              message
              assigneeRole
              requiredApprovals
              approvals
              comment
              data
              expiresAt
              createdAt
              run {
                id
                status
              }
            }

            fragment UserErrorFields on UserError {
              path
              message
              code
              severity
            }
            """)
        variables: dict[str, object] = {
            "id": id,
            "decision": decision,
            "comment": comment,
            "data": data,
        }
        response = await self.execute(
            query=query, operation_name="DecideTask", variables=variables, **kwargs
        )
        _data = self.get_data(response)
        return DecideTask.model_validate(_data)

    async def get_run(self, id: str, **kwargs: Any) -> GetRun:
        query = gql("""
            query GetRun($id: ID!) {
              run(id: $id) {
                ...RunFields
              }
            }

            fragment RunFields on Run {
              id
              version
              status
              trigger
              test
              idempotencyKey
              createdAt
              startedAt
              finishedAt
              input
              output
              error
              workflow {
                id
                name
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="GetRun", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return GetRun.model_validate(data)

    async def list_runs(
        self,
        first: Union[Optional[int], UnsetType] = UNSET,
        after: Union[Optional[str], UnsetType] = UNSET,
        filter_: Union[Optional[RunFilter], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> ListRuns:
        query = gql("""
            query ListRuns($first: Int, $after: String, $filter: RunFilter) {
              runs(first: $first, after: $after, filter: $filter) {
                nodes {
                  ...RunFields
                }
                pageInfo {
                  hasNextPage
                  endCursor
                }
              }
            }

            fragment RunFields on Run {
              id
              version
              status
              trigger
              test
              idempotencyKey
              createdAt
              startedAt
              finishedAt
              input
              output
              error
              workflow {
                id
                name
              }
            }
            """)
        variables: dict[str, object] = {
            "first": first,
            "after": after,
            "filter": filter_,
        }
        response = await self.execute(
            query=query, operation_name="ListRuns", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return ListRuns.model_validate(data)

    async def run_history(
        self,
        id: str,
        after_seq: Union[Optional[int], UnsetType] = UNSET,
        first: Union[Optional[int], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> RunHistory:
        query = gql("""
            query RunHistory($id: ID!, $afterSeq: Int, $first: Int) {
              run(id: $id) {
                id
                status
                events(afterSeq: $afterSeq, first: $first) {
                  ...RunEventFields
                }
              }
            }

            fragment RunEventFields on RunEvent {
              seq
              runId
              kind
              stepId
              status
              at
              final
              data
            }
            """)
        variables: dict[str, object] = {"id": id, "afterSeq": after_seq, "first": first}
        response = await self.execute(
            query=query, operation_name="RunHistory", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return RunHistory.model_validate(data)

    async def list_tasks(
        self,
        status: Union[Optional[HumanTaskStatus], UnsetType] = UNSET,
        assigned_to_me: Union[Optional[bool], UnsetType] = UNSET,
        first: Union[Optional[int], UnsetType] = UNSET,
        after: Union[Optional[str], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> ListTasks:
        query = gql("""
            query ListTasks($status: HumanTaskStatus, $assignedToMe: Boolean, $first: Int, $after: String) {
              humanTasks(
                status: $status
                assignedToMe: $assignedToMe
                first: $first
                after: $after
              ) {
                nodes {
                  ...HumanTaskFields
                }
                pageInfo {
                  hasNextPage
                  endCursor
                }
              }
            }

            fragment HumanTaskFields on HumanTask {
              id
              stepId
              status
              title
              message
              assigneeRole
              requiredApprovals
              approvals
              comment
              data
              expiresAt
              createdAt
              run {
                id
                status
              }
            }
            """)
        variables: dict[str, object] = {
            "status": status,
            "assignedToMe": assigned_to_me,
            "first": first,
            "after": after,
        }
        response = await self.execute(
            query=query, operation_name="ListTasks", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return ListTasks.model_validate(data)

    async def get_task(self, id: str, **kwargs: Any) -> GetTask:
        query = gql("""
            query GetTask($id: ID!) {
              humanTask(id: $id) {
                ...HumanTaskFields
              }
            }

            fragment HumanTaskFields on HumanTask {
              id
              stepId
              status
              title
              message
              assigneeRole
              requiredApprovals
              approvals
              comment
              data
              expiresAt
              createdAt
              run {
                id
                status
              }
            }
            """)
        variables: dict[str, object] = {"id": id}
        response = await self.execute(
            query=query, operation_name="GetTask", variables=variables, **kwargs
        )
        data = self.get_data(response)
        return GetTask.model_validate(data)

    async def run_events(
        self,
        run_id: str,
        after_seq: Union[Optional[int], UnsetType] = UNSET,
        **kwargs: Any,
    ) -> AsyncIterator[RunEvents]:
        query = gql("""
            subscription RunEvents($runId: ID!, $afterSeq: Int) {
              runEvents(runId: $runId, afterSeq: $afterSeq) {
                ...RunEventFields
              }
            }

            fragment RunEventFields on RunEvent {
              seq
              runId
              kind
              stepId
              status
              at
              final
              data
            }
            """)
        variables: dict[str, object] = {"runId": run_id, "afterSeq": after_seq}
        async for data in self.execute_ws(
            query=query, operation_name="RunEvents", variables=variables, **kwargs
        ):
            yield RunEvents.model_validate(data)
