from typing import Optional

from pydantic import Field

from .base_model import BaseModel
from .fragments import HumanTaskFields


class ListTasks(BaseModel):
    human_tasks: "ListTasksHumanTasks" = Field(alias="humanTasks")


class ListTasksHumanTasks(BaseModel):
    nodes: list["ListTasksHumanTasksNodes"]
    page_info: "ListTasksHumanTasksPageInfo" = Field(alias="pageInfo")


ListTasksHumanTasksNodes = HumanTaskFields


class ListTasksHumanTasksPageInfo(BaseModel):
    has_next_page: bool = Field(alias="hasNextPage")
    end_cursor: Optional[str] = Field(alias="endCursor")


ListTasks.model_rebuild()
ListTasksHumanTasks.model_rebuild()
