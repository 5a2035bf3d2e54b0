from datetime import datetime
from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import HumanTaskStatus, Role, RunEventKind, RunStatus, Severity


class HumanTaskFields(BaseModel):
    id: str
    step_id: str = Field(alias="stepId")
    status: HumanTaskStatus
    title: str
    message: Optional[str]
    assignee_role: Role = Field(alias="assigneeRole")
    required_approvals: int = Field(alias="requiredApprovals")
    approvals: int
    comment: Optional[str]
    data: Optional[Any]
    expires_at: Optional[datetime] = Field(alias="expiresAt")
    created_at: datetime = Field(alias="createdAt")
    run: "HumanTaskFieldsRun"


class HumanTaskFieldsRun(BaseModel):
    id: str
    status: RunStatus


class RunEventFields(BaseModel):
    seq: int
    run_id: str = Field(alias="runId")
    kind: RunEventKind
    step_id: Optional[str] = Field(alias="stepId")
    status: Optional[str]
    at: datetime
    final: bool
    data: Optional[Any]


class RunFields(BaseModel):
    id: str
    version: int
    status: RunStatus
    trigger: str
    test: bool
    idempotency_key: Optional[str] = Field(alias="idempotencyKey")
    created_at: datetime = Field(alias="createdAt")
    started_at: Optional[datetime] = Field(alias="startedAt")
    finished_at: Optional[datetime] = Field(alias="finishedAt")
    input: Optional[Any]
    output: Optional[Any]
    error: Optional[Any]
    workflow: "RunFieldsWorkflow"


class RunFieldsWorkflow(BaseModel):
    id: str
    name: str


class UserErrorFields(BaseModel):
    path: list[str]
    message: str
    code: str
    severity: Severity


HumanTaskFields.model_rebuild()
RunEventFields.model_rebuild()
RunFields.model_rebuild()
UserErrorFields.model_rebuild()
