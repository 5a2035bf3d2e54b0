from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import RunFields, UserErrorFields


class RetryRun(BaseModel):
    retry_run: "RetryRunRetryRun" = Field(alias="retryRun")


class RetryRunRetryRun(BaseModel):
    run: Optional["RetryRunRetryRunRun"]
    errors: list["RetryRunRetryRunErrors"]


RetryRunRetryRunRun = RunFields
RetryRunRetryRunErrors = UserErrorFields
RetryRun.model_rebuild()
RetryRunRetryRun.model_rebuild()
