"""What the app builds once at start-up and every request reads: settings, database, registry."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared.db import Sessions
from studio_shared.schemas import NodeRegistry
from studio_shared.settings import Settings


@dataclass(frozen=True, slots=True)
class AppState:
    settings: Settings
    engine: AsyncEngine
    sessions: Sessions
    registry: NodeRegistry
