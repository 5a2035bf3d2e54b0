"""Which database failures are the connection's (retry later), not the statement's (a bug or a conflict)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

from studio_shared.db.jsondata import NotStorable

# SQLSTATE classes of a lost or refused connection: 08 connection exception, 57 operator intervention
# (pg_terminate_backend, shutdown, "cannot connect now"), 53 insufficient resources (too many connections).
TRANSIENT_SQLSTATE_CLASSES = ("08", "57", "53")
RETRY_AFTER_S = 1
STORAGE_REFUSED = "StorageRefused"


def is_transient(exc: BaseException) -> bool:
    """True when the same request may well succeed if retried: the database or the pool was unavailable."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection to give within pool_timeout
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(sqlstate, str):
            return sqlstate[:2] in TRANSIENT_SQLSTATE_CLASSES
        if isinstance(exc, sa_exc.InterfaceError):
            return True  # the driver's connection is unusable (closed mid-operation)
        text = str(exc.orig).lower()
        return "database is locked" in text or "database is busy" in text  # SQLite's busy writer
    return False


def unstorable(exc: BaseException) -> NotStorable | None:
    """What a write that can never succeed as it is refused: a value JSON cannot hold (raised by the encoder, or
    wrapped by SQLAlchemy when the column serializer raised it), or a data exception of the database (SQLSTATE
    class 22: PostgreSQL refused a value). Retrying such a write changes nothing: its run must fail instead."""
    if isinstance(exc, NotStorable):
        return exc
    if isinstance(exc, sa_exc.StatementError) and isinstance(exc.orig, NotStorable):
        return exc.orig
    if isinstance(exc, sa_exc.DBAPIError) and not exc.connection_invalidated:
        sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        if isinstance(exc, sa_exc.DataError) or (isinstance(sqlstate, str) and sqlstate.startswith("22")):
            text = str(exc.orig).strip()
            first_line = text.splitlines()[0][:200] if text else "a data exception"
            code = f" (SQLSTATE {sqlstate})" if isinstance(sqlstate, str) else ""
            return NotStorable(STORAGE_REFUSED, f"{first_line}{code}")
    return None
