from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import RunFields, UserErrorFields


class StartRun(BaseModel):
    start_run: "StartRunStartRun" = Field(alias="startRun")


class StartRunStartRun(BaseModel):
    run: Optional["StartRunStartRunRun"]
    created: Optional[bool]
    errors: list["StartRunStartRunErrors"]


StartRunStartRunRun = RunFields
StartRunStartRunErrors = UserErrorFields
StartRun.model_rebuild()
StartRunStartRun.model_rebuild()
