"""Run Alembic migrations programmatically (``studio migrate``, app start-up on SQLite, tests)."""

from __future__ import annotations

import os
from pathlib import Path

from alembic.config import Config

from alembic import command

# The migrations ship beside the packages (top-level ``alembic/``); STUDIO_ALEMBIC_DIR overrides for odd layouts.
ALEMBIC_DIR = Path(os.environ.get("STUDIO_ALEMBIC_DIR", Path(__file__).resolve().parents[2] / "alembic"))


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(ALEMBIC_DIR))
    cfg.attributes["database_url"] = database_url
    cfg.attributes["configure_logging"] = False
    return cfg


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking: call it from a thread when an event loop is running (env.py runs its own loop)."""
    command.upgrade(alembic_config(database_url), revision)
