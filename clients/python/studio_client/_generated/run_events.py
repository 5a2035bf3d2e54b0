from datetime import datetime
from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import RunEventKind


class RunEvents(BaseModel):
    run_events: "RunEventsRunEvents" = Field(alias="runEvents")


class RunEventsRunEvents(BaseModel):
    seq: int
    run_id: str = Field(alias="runId")
    kind: RunEventKind
    step_id: Optional[str] = Field(alias="stepId")
    status: Optional[str]
    at: datetime
    final: bool
    data: Optional[Any]


RunEvents.model_rebuild()
