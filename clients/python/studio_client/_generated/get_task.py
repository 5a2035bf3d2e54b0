from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import HumanTaskFields


class GetTask(BaseModel):
    human_task: Optional["GetTaskHumanTask"] = Field(alias="humanTask")


GetTaskHumanTask = HumanTaskFields
GetTask.model_rebuild()
