from pydantic import Field

from .base_model import BaseModel
from .fragments import RunEventFields


class RunEvents(BaseModel):
    run_events: "RunEventsRunEvents" = Field(alias="runEvents")


RunEventsRunEvents = RunEventFields
RunEvents.model_rebuild()
