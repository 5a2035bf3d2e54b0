"""Counts of SQL statements and transactions sent through an engine: cheap enough to leave on.

A worker logs its totals when it stops; the benchmarks read them to report statements per step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine


@dataclass
class SqlStats:
    statements: int = 0
    transactions: int = 0

    def attach(self, engine: AsyncEngine) -> SqlStats:
        event.listen(engine.sync_engine, "before_cursor_execute", self._statement)
        event.listen(engine.sync_engine, "begin", self._begin)
        return self

    def snapshot(self) -> SqlStats:
        """The counts so far (listeners are never removed: SQLite's BEGIN runs inside the listener loop)."""
        return SqlStats(self.statements, self.transactions)

    def summary(self) -> str:
        return f"sql statements={self.statements} transactions={self.transactions}"

    def _statement(self, *_args: Any) -> None:
        self.statements += 1

    def _begin(self, conn: Any) -> None:
        if conn.get_execution_options().get("isolation_level") != "AUTOCOMMIT":  # a statement in autocommit is none
            self.transactions += 1
