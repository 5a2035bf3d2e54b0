from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import HumanTaskFields, UserErrorFields


class DecideTask(BaseModel):
    decide_human_task: "DecideTaskDecideHumanTask" = Field(alias="decideHumanTask")


class DecideTaskDecideHumanTask(BaseModel):
    task: Optional["DecideTaskDecideHumanTaskTask"]
    errors: list["DecideTaskDecideHumanTaskErrors"]


DecideTaskDecideHumanTaskTask = HumanTaskFields
DecideTaskDecideHumanTaskErrors = UserErrorFields
DecideTask.model_rebuild()
DecideTaskDecideHumanTask.model_rebuild()
