from .async_base_client import AsyncBaseClient
from .base_model import BaseModel, Upload
from .cancel_run import (
    CancelRun,
    CancelRunCancelRun,
    CancelRunCancelRunErrors,
    CancelRunCancelRunRun,
)
from .client import GeneratedClient
from .decide_task import (
    DecideTask,
    DecideTaskDecideHumanTask,
    DecideTaskDecideHumanTaskErrors,
    DecideTaskDecideHumanTaskTask,
)
from .enums import (
    Decision,
    HumanTaskStatus,
    Role,
    RunEventKind,
    RunStatus,
    Severity,
    StepStatus,
    WebhookAuth,
)
from .exceptions import (
    GraphQLClientError,
    GraphQLClientGraphQLError,
    GraphQLClientGraphQLMultiError,
    GraphQLClientHttpError,
    GraphQLClientInvalidResponseError,
)
from .fragments import (
    HumanTaskFields,
    HumanTaskFieldsRun,
    RunEventFields,
    RunFields,
    RunFieldsWorkflow,
    UserErrorFields,
)
from .get_run import GetRun, GetRunRun
from .get_task import GetTask, GetTaskHumanTask
from .input_types import (
    AuditLogFilter,
    CreateWorkflowInput,
    CredentialInput,
    OidcConfigInput,
    OidcGroupRoleInput,
    RunFilter,
    ScheduleInput,
    UpdateWorkflowInput,
    WebhookInput,
    WebhookUpdateInput,
)
from .list_runs import ListRuns, ListRunsRuns, ListRunsRunsNodes, ListRunsRunsPageInfo
from .list_tasks import (
    ListTasks,
    ListTasksHumanTasks,
    ListTasksHumanTasksNodes,
    ListTasksHumanTasksPageInfo,
)
from .retry_run import (
    RetryRun,
    RetryRunRetryRun,
    RetryRunRetryRunErrors,
    RetryRunRetryRunRun,
)
from .run_events import RunEvents, RunEventsRunEvents
from .run_history import RunHistory, RunHistoryRun, RunHistoryRunEvents
from .signal_run import (
    SignalRun,
    SignalRunSignalRun,
    SignalRunSignalRunErrors,
    SignalRunSignalRunRun,
)
from .start_run import (
    StartRun,
    StartRunStartRun,
    StartRunStartRunErrors,
    StartRunStartRunRun,
)

__all__ = [
    "AsyncBaseClient",
    "AuditLogFilter",
    "BaseModel",
    "CancelRun",
    "CancelRunCancelRun",
    "CancelRunCancelRunErrors",
    "CancelRunCancelRunRun",
    "CreateWorkflowInput",
    "CredentialInput",
    "DecideTask",
    "DecideTaskDecideHumanTask",
    "DecideTaskDecideHumanTaskErrors",
    "DecideTaskDecideHumanTaskTask",
    "Decision",
    "GeneratedClient",
    "GetRun",
    "GetRunRun",
    "GetTask",
    "GetTaskHumanTask",
    "GraphQLClientError",
    "GraphQLClientGraphQLError",
    "GraphQLClientGraphQLMultiError",
    "GraphQLClientHttpError",
    "GraphQLClientInvalidResponseError",
    "HumanTaskFields",
    "HumanTaskFieldsRun",
    "HumanTaskStatus",
    "ListRuns",
    "ListRunsRuns",
    "ListRunsRunsNodes",
    "ListRunsRunsPageInfo",
    "ListTasks",
    "ListTasksHumanTasks",
    "ListTasksHumanTasksNodes",
    "ListTasksHumanTasksPageInfo",
    "OidcConfigInput",
    "OidcGroupRoleInput",
    "RetryRun",
    "RetryRunRetryRun",
    "RetryRunRetryRunErrors",
    "RetryRunRetryRunRun",
    "Role",
    "RunEventFields",
    "RunEventKind",
    "RunEvents",
    "RunEventsRunEvents",
    "RunFields",
    "RunFieldsWorkflow",
    "RunFilter",
    "RunHistory",
    "RunHistoryRun",
    "RunHistoryRunEvents",
    "RunStatus",
    "ScheduleInput",
    "Severity",
    "SignalRun",
    "SignalRunSignalRun",
    "SignalRunSignalRunErrors",
    "SignalRunSignalRunRun",
    "StartRun",
    "StartRunStartRun",
    "StartRunStartRunErrors",
    "StartRunStartRunRun",
    "StepStatus",
    "UpdateWorkflowInput",
    "Upload",
    "UserErrorFields",
    "WebhookAuth",
    "WebhookInput",
    "WebhookUpdateInput",
]
