from datetime import datetime
from typing import Any, Optional

from pydantic import Field

from .base_model import BaseModel
from .enums import Role, RunStatus, WebhookAuth


class AuditLogFilter(BaseModel):
    """Which audit entries to list: every given field must match."""

    actor: Optional[str] = None
    "Who acted, as entries name it: user:<id>, apikey:<id>, schedule:<id>, cli, ..."
    action: Optional[str] = None
    "What was done, e.g. workflow.publish."
    resource_type: Optional[str] = Field(alias="resourceType", default=None)
    "The kind of thing acted on (an entry's targetKind), e.g. workflow, run, api_key."
    resource_id: Optional[str] = Field(alias="resourceId", default=None)
    "The id of the thing acted on (an entry's targetId); needs resourceType."
    since: Optional[datetime] = None
    "Entries at or after this time."
    until: Optional[datetime] = None
    "Entries before this time."


class CreateWorkflowInput(BaseModel):
    """A new workflow; the definition is validated before anything is saved."""

    name: str
    description: Optional[str] = None
    definition: Any


class CredentialInput(BaseModel):
    """A new credential. kind is one of: bearer, basic, header, openai, smtp, postgres."""

    name: str
    kind: str
    value: Any
    "bearer {token}; basic {username, password}; header {name, value}; openai {api_key, base_url?, organization?}"
    allowed_hosts: Optional[list[str]] = Field(alias="allowedHosts", default=None)


class OidcConfigInput(BaseModel):
    """The tenant's OpenID Connect provider."""

    issuer: str
    "The provider's issuer URL (https), as its discovery document says."
    client_id: str = Field(alias="clientId")
    client_secret: Optional[str] = Field(alias="clientSecret", default=None)
    "Needed the first time; null keeps the stored one."
    jit_role: Optional[Role] = Field(alias="jitRole", default=None)
    "Create unknown users at their first sign-in with this role; null refuses them."
    groups_claim: Optional[str] = Field(alias="groupsClaim", default=None)
    group_roles: list["OidcGroupRoleInput"] = Field(
        alias="groupRoles", default_factory=lambda: []
    )
    allowed_domains: list[str] = Field(
        alias="allowedDomains", default_factory=lambda: []
    )


class OidcGroupRoleInput(BaseModel):
    """A group of the provider's groups claim and the role its members get."""

    group: str
    role: Role


class RunFilter(BaseModel):
    """Narrow a run list; every given field must match."""

    workflow_id: Optional[str] = Field(alias="workflowId", default=None)
    status: Optional[list[RunStatus]] = None
    created_after: Optional[datetime] = Field(alias="createdAfter", default=None)
    created_before: Optional[datetime] = Field(alias="createdBefore", default=None)
    trigger: Optional[list[str]] = None
    "Trigger kinds: manual, webhook, schedule, message, parent (a child run); any of them matches."
    started_by: Optional[str] = Field(alias="startedBy", default=None)
    "A user's id: runs started for that person (see Run.startedBy)."
    top_level: Optional[bool] = Field(alias="topLevel", default=None)
    "true: only runs no step started; false: only child runs; null: both."
    test: Optional[bool] = None
    "true: only test runs of drafts; false: only live runs; null: both."


class ScheduleInput(BaseModel):
    """A schedule's settings; updateSchedule replaces them all."""

    cron: str
    "e.g. '0 9 * * 1-5'; a 6th field is seconds ('* * * * * */10': every 10 s)."
    timezone: str = "UTC"
    input: Optional[Any] = None
    "The input of every run it starts."
    overlap: str = "skip"
    "While the previous tick's run is active: skip (no new run), allow, buffer_one (start one waiting tick when it finishes), cancel_previous (cancel it, start the new one)."
    catch_up: str = Field(alias="catchUp", default="skip")
    "Ticks missed while no scheduler ran: skip (none), latest (the newest), all (within catchUpWindowS, at most 1,000)."
    catch_up_window_s: Optional[int] = Field(alias="catchUpWindowS", default=None)
    "null: no limit."
    jitter_s: int = Field(alias="jitterS", default=0)
    "0 to 3600: spread ticks of many schedules out."
    enabled: bool = True


class UpdateWorkflowInput(BaseModel):
    """Changes to the draft; omitted fields stay as they are."""

    name: Optional[str] = None
    description: Optional[str] = None
    definition: Optional[Any] = None
    expected_revision: Optional[int] = Field(alias="expectedRevision", default=None)
    "The revision you edited; a newer draft on the server makes this a CONFLICT."


class WebhookInput(BaseModel):
    """A new webhook; signed deliveries (STANDARD) unless another scheme is chosen."""

    auth: WebhookAuth = WebhookAuth.STANDARD
    enabled: bool = True
    rate_limit_per_minute: Optional[int] = Field(
        alias="rateLimitPerMinute", default=None
    )
    "Deliveries per minute before 429 Too Many Requests; null: no limit."
    replay_window_s: Optional[int] = Field(alias="replayWindowS", default=None)
    "Seconds a verified delivery's key (the signed id; for GitHub, which signs no timestamp, the body's SHA-256) is remembered: a repeat inside the window is answered by the run it started, or refused (409) when it started none or that run was deleted. 0 or null: off."


class WebhookUpdateInput(BaseModel):
    """Change a webhook; omitted fields stay as they are."""

    enabled: Optional[bool] = None
    rate_limit_per_minute: Optional[int] = Field(
        alias="rateLimitPerMinute", default=None
    )
    clear_rate_limit: bool = Field(alias="clearRateLimit", default=False)
    replay_window_s: Optional[int] = Field(alias="replayWindowS", default=None)
    "Seconds a verified delivery's key (the signed id; for GitHub, which signs no timestamp, the body's SHA-256) is remembered: a repeat inside the window is answered by the run it started, or refused (409) when it started none or that run was deleted. 0: off."


OidcConfigInput.model_rebuild()
