from typing import Optional

from .base_model import BaseModel
from .fragments import RunFields


class GetRun(BaseModel):
    run: Optional["GetRunRun"]


GetRunRun = RunFields
GetRun.model_rebuild()
