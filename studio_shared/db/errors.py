"""Which database failures are the connection's (retry later), not the statement's (a bug or a conflict)."""

from __future__ import annotations

from sqlalchemy import exc as sa_exc

# SQLSTATE classes of a lost or refused connection: 08 connection exception, 57 operator intervention
# (pg_terminate_backend, shutdown, "cannot connect now"), 53 insufficient resources (too many connections).
TRANSIENT_SQLSTATE_CLASSES = ("08", "57", "53")
RETRY_AFTER_S = 1


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
