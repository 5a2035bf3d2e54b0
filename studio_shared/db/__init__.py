"""Database models, engine and session factory."""

from studio_shared.db import models, tenancy
from studio_shared.db.base import Base
from studio_shared.db.engine import (
    Sessions,
    create_engine,
    lone_reads,
    lone_statements,
    read_only,
    session_factory,
    unflushed_statements,
)

__all__ = [
    "Base",
    "Sessions",
    "create_engine",
    "lone_reads",
    "lone_statements",
    "models",
    "read_only",
    "session_factory",
    "tenancy",
    "unflushed_statements",
]
