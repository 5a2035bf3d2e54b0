from typing import Optional

from .base_model import BaseModel
from .enums import RunStatus
from .fragments import RunEventFields


class RunHistory(BaseModel):
    run: Optional["RunHistoryRun"]


class RunHistoryRun(BaseModel):
    id: str
    status: RunStatus
    events: list["RunHistoryRunEvents"]


RunHistoryRunEvents = RunEventFields
RunHistory.model_rebuild()
RunHistoryRun.model_rebuild()
