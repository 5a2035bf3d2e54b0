from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import RunFields


class ListRuns(BaseModel):
    runs: "ListRunsRuns"


class ListRunsRuns(BaseModel):
    nodes: list["ListRunsRunsNodes"]
    page_info: "ListRunsRunsPageInfo" = Field(alias="pageInfo")


ListRunsRunsNodes = RunFields


class ListRunsRunsPageInfo(BaseModel):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: Optional[str] = Field(alias="endCursor")


ListRuns.model_rebuild()
ListRunsRuns.model_rebuild()
