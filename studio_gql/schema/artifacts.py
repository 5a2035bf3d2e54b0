"""Artifacts in GraphQL: metadata plus a short-lived signed download link."""

from __future__ import annotations

import time
from datetime import datetime

import strawberry

from studio_gql.context import Info
from studio_shared.db import models


@strawberry.type(
    description="A file a step wrote; download it from `downloadUrl` (or GET /artifacts/{id} with a token)."
)
class Artifact:
    id: strawberry.ID
    name: str
    content_type: str
    size: int
    sha256: str
    step_id: str
    created_at: datetime

    @classmethod
    def from_model(cls, row: models.Artifact) -> Artifact:
        return cls(
            id=strawberry.ID(str(row.id)),
            name=row.name,
            content_type=row.content_type,
            size=row.size,
            sha256=row.sha256,
            step_id=row.step_id,
            created_at=row.created_at,
        )

    @strawberry.field(description="A link that downloads this one artifact without a token, valid for 15 minutes.")
    def download_url(self, info: Info) -> str:
        state = info.context.state
        expires = int(time.time()) + state.settings.artifact_link_ttl_s
        signature = state.box.sign(artifact_subject(info.context.tenant_id, str(self.id)), expires)
        return f"/artifacts/{self.id}?expires={expires}&signature={signature}"


def artifact_subject(tenant_id: object, artifact_id: str) -> str:
    """What a download link signs: one artifact of one tenant."""
    return f"artifact:{tenant_id}:{artifact_id}"
