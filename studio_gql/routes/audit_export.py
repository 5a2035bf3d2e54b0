"""``GET /audit/export?since=…&until=…&format=csv|jsonl``: the tenant's audit entries of a time range, streamed.

An ADMIN's bearer token (a JWT or an API key with ``audit:read``). The range is required and bounded
(``audit_export_max_days``), and so are the rows (``audit_export_max_rows``): past either the request is refused with
what to narrow, before anything is streamed, so an export is never silently cut short. Optional ``actor``,
``action``, ``resourceType`` and ``resourceId`` narrow it like ``auditLog(filter:)``. Entries come oldest first.

CSV cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return) are prefixed with a single quote. Each export served is recorded (``audit.export``).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from studio_gql.auth import authenticate
from studio_gql.state import AppState
from studio_shared.db import models
from studio_shared.errors import Problem, Unauthenticated, ValidationFailed
from studio_shared.rbac import Permission, permissions_for
from studio_shared.store import audit

BATCH = 500
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson"}
COLUMNS = ("id", "at", "actor", "action", "resource_type", "resource_id", "data")
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _error(status: int, code: str, message: str, problems: list[Problem] | None = None) -> JSONResponse:
    body: dict[str, object] = {"error": code, "message": message}
    if problems:
        body["problems"] = [{"path": list(p.path), "message": p.message, "code": p.code} for p in problems]
    return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})


def _when(request: Request, name: str) -> datetime:
    raw = request.query_params.get(name)
    if not raw:
        raise ValidationFailed.one([name], f"{name} is required: an ISO 8601 time, e.g. 2026-12-07T00:00:00Z")
    try:
        return datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
    except ValueError:
        raise ValidationFailed.one([name], f"{name} is not an ISO 8601 time, e.g. 2026-12-07T00:00:00Z") from None


def _request_filter(request: Request, max_days: int) -> tuple[audit.AuditFilter, datetime, datetime, str]:
    params = request.query_params
    fmt = params.get("format", "csv")
    if fmt not in FORMATS:
        raise ValidationFailed.one(["format"], "format is csv or jsonl")
    since, until = _when(request, "since"), _when(request, "until")
    where = audit.AuditFilter(
        actor=params.get("actor"),
        action=params.get("action"),
        resource_type=params.get("resourceType"),
        resource_id=params.get("resourceId"),
        since=since,
        until=until,
    ).checked(())
    if until - since > timedelta(days=max_days):
        raise ValidationFailed.one(
            ["until"], f"an export covers at most {max_days} days: export a shorter range at a time", "OUT_OF_RANGE"
        )
    return where, since, until, fmt


async def export(request: Request) -> Response:
    state: AppState = request.app.state.studio
    try:
        principal = await authenticate(state, request.headers.get("authorization"))
    except Unauthenticated as exc:
        return _error(401, "unauthenticated", str(exc))
    if principal is None:
        return _error(401, "unauthenticated", "send an ADMIN's token: Authorization: Bearer <token>")
    if principal.password_change_required:
        return _error(403, "forbidden", "set a new password first: you signed in with a temporary one")
    if Permission.AUDIT_READ not in permissions_for(principal.role):
        return _error(403, "forbidden", f"exporting the audit log needs the permission {Permission.AUDIT_READ.value}")
    settings = state.settings
    try:
        where, since, until, fmt = _request_filter(request, settings.audit_export_max_days)
    except ValidationFailed as exc:
        return _error(400, "invalid", str(exc), exc.problems)
    limit = settings.audit_export_max_rows
    async with state.reads() as s:
        found = await audit.count_entries(s, principal.tenant_id, where, limit + 1)
    if found > limit:
        return _error(
            400,
            "too_many_rows",
            f"more than {limit} entries match: export a shorter range (or narrow it by actor or action)",
            [Problem(("since",), f"at most {limit} entries per export", "OUT_OF_RANGE")],
        )
    # Taking the log away is itself on record: who exported which range, in what format, how many entries.
    async with state.sessions.begin() as s:
        audit.record(
            s,
            principal.tenant_id,
            principal.actor,
            "audit.export",
            None,
            {"since": since.isoformat(), "until": until.isoformat(), "format": fmt, "entries": found},
        )
    name = f"audit-{since:%Y%m%dT%H%M%S}-{until:%Y%m%dT%H%M%S}.{fmt}"
    headers = {
        "Content-Disposition": f'attachment; filename="{name}"',
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    body = _lines(state, principal.tenant_id, where, limit, csv_format=fmt == "csv")
    return StreamingResponse(body, media_type=FORMATS[fmt], headers=headers)


def _record(row: models.AuditEntry) -> dict[str, object]:
    return {
        "id": str(row.id),
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "resource_type": row.target_kind,
        "resource_id": row.target_id,
        "data": row.data,
    }


def safe_cell(value: object) -> str:
    """A CSV cell no spreadsheet evaluates: text that starts like a formula gets a leading quote."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), sort_keys=True)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _csv_line(cells: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue().encode()


async def _lines(
    state: AppState, tenant_id: uuid.UUID, where: audit.AuditFilter, limit: int, *, csv_format: bool
) -> AsyncIterator[bytes]:
    if csv_format:
        yield _csv_line(list(COLUMNS))
    start_after: tuple[datetime, int] | None = None
    sent = 0
    while sent < limit:
        async with state.reads() as s:  # a session per batch: a slow client holds no transaction open
            rows = await audit.export_batch(s, tenant_id, where, start_after, min(BATCH, limit - sent))
        if not rows:
            return
        chunk = []
        for row in rows:
            record = _record(row)
            if csv_format:
                chunk.append(_csv_line([safe_cell(record[c]) for c in COLUMNS]))
            else:
                chunk.append(json.dumps(record, separators=(",", ":")).encode() + b"\n")
        yield b"".join(chunk)
        sent += len(rows)
        start_after = (rows[-1].at, rows[-1].id)
