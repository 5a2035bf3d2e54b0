from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import RunFields, UserErrorFields


class CancelRun(BaseModel):
    cancel_run: "CancelRunCancelRun" = Field(alias="cancelRun")


class CancelRunCancelRun(BaseModel):
    run: Optional["CancelRunCancelRunRun"]
    errors: list["CancelRunCancelRunErrors"]


CancelRunCancelRunRun = RunFields
CancelRunCancelRunErrors = UserErrorFields
CancelRun.model_rebuild()
CancelRunCancelRun.model_rebuild()
