"""Keyset pagination over (created_at, id), newest first, with opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa

from studio_shared.errors import ValidationFailed

MAX_PAGE = 100
DEFAULT_PAGE = 20


T = TypeVar("T")  # a row with `created_at` and `id` (ORM descriptors do not satisfy a Protocol for mypy)


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: list[T]
    has_next: bool

    def cursor(self, item: T) -> str:
        row: Any = item
        return encode_cursor(row.created_at, row.id)

    @property
    def end_cursor(self) -> str | None:
        return self.cursor(self.items[-1]) if self.items else None


def encode_cursor(created_at: datetime, id: object) -> str:
    key = id.hex if isinstance(id, uuid.UUID) else str(id)
    raw = json.dumps([created_at.isoformat(), key], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, id_type: type[Any] = uuid.UUID) -> tuple[datetime, Any]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        when = datetime.fromisoformat(stamp)
        if when.tzinfo is None:
            raise ValueError("naive cursor time")
        return when, id_type(key)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise ValidationFailed.one(["after"], "invalid cursor: pass an endCursor from a previous page") from exc


def page_size(first: int | None) -> int:
    if first is None:
        return DEFAULT_PAGE
    if not 0 <= first <= MAX_PAGE:
        raise ValidationFailed.one(["first"], f"first must be between 0 and {MAX_PAGE}", "OUT_OF_RANGE")
    return first


def keyset(
    stmt: sa.Select[Any], created_at: Any, id_col: Any, first: int | None, after: str | None
) -> tuple[sa.Select[Any], int]:
    """Order newest first and start after the cursor; fetches one extra row to learn ``has_next``."""
    size = page_size(first)
    if after:
        stamp, key = decode_cursor(after, id_col.type.python_type)
        stmt = stmt.where(sa.tuple_(created_at, id_col) < sa.tuple_(stamp, key))
    return stmt.order_by(created_at.desc(), id_col.desc()).limit(size + 1), size


def paged(rows: Sequence[T], size: int) -> Page[T]:
    return Page(items=list(rows[:size]), has_next=len(rows) > size)
