from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import RunFields, UserErrorFields


class SignalRun(BaseModel):
    signal_run: "SignalRunSignalRun" = Field(alias="signalRun")


class SignalRunSignalRun(BaseModel):
    run: Optional["SignalRunSignalRunRun"]
    errors: list["SignalRunSignalRunErrors"]


SignalRunSignalRunRun = RunFields
SignalRunSignalRunErrors = UserErrorFields
SignalRun.model_rebuild()
SignalRunSignalRun.model_rebuild()
