"""What nodes with effects may use: credentials (decrypted for one step), guarded outbound HTTP, object storage
and a few tenant-scoped writes. Built once per engine; every call takes the step's context, so the tenant
always comes from the run, never from the node's config.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.credentials import ResolvedCredential
from studio_shared.crypto import DecryptionFailed, SecretBox, configured_secrets
from studio_shared.events import EventBus
from studio_shared.resume import ResumeLinks
from studio_shared.settings import Settings
from studio_shared.storage import ObjectStore, store_from_settings
from studio_shared.store import credentials
from studio_worker.egress import EgressPolicy, Resolver, guarded_client
from studio_worker.nodes.base import NodeError

if TYPE_CHECKING:
    from studio_worker.nodes.base import NodeContext

log = logging.getLogger("studio.nodes")


class NodeServices:
    def __init__(
        self, settings: Settings, db: AsyncEngine, resolver: Resolver | None = None, bus: EventBus | None = None
    ) -> None:
        self.settings, self.db = settings, db
        self.bus = bus  # for tenant-level notifications (human tasks); None: nobody is told
        self.resolver = resolver  # DNS override for tests; None: the system resolver
        self.policy = EgressPolicy.from_settings(settings)
        self._box: SecretBox | None = None
        self._resume_links: ResumeLinks | None = None
        self._store: ObjectStore | None = None

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = SecretBox(configured_secrets(self.settings))
        return self._box

    @property
    def resume_links(self) -> ResumeLinks:
        """Signs the resume URLs of wait.event steps (``run.resume_urls`` in templates)."""
        if self._resume_links is None:
            self._resume_links = ResumeLinks.from_settings(self.settings)
        return self._resume_links

    @property
    def store(self) -> ObjectStore:
        if self._store is None:
            self._store = store_from_settings(self.settings)
        return self._store

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()

    async def credential(self, ctx: NodeContext, name: str) -> ResolvedCredential:
        """The run's tenant's credential ``name``; its secrets are redacted from everything the step records."""
        try:
            async with self.db.connect() as conn:
                found = await credentials.resolve(conn, self.box, ctx.tenant_id, name)
        except DecryptionFailed:
            raise NodeError(
                "CredentialUnreadable",
                f"credential {name!r} cannot be decrypted with the configured STUDIO_SECRET_KEY; store it again",
            ) from None
        if found is None:
            raise NodeError("CredentialNotFound", f"no credential named {name!r}: create it, or fix config.credential")
        ctx.secrets.update(found.secrets())
        return found

    def http_client(self, timeout: httpx.Timeout, **kwargs: Any) -> httpx.AsyncClient:
        """An HTTP client whose every connection is checked against the egress policy."""
        return guarded_client(self.policy, resolver=self.resolver, timeout=timeout, **kwargs)
