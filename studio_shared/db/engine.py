"""Engine and session factory for the configured database URL (SQLite or PostgreSQL)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import AdaptedConnection, Connection, make_url
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from studio_shared.db.jsondata import storable_json
from studio_shared.settings import Settings

Sessions = async_sessionmaker[AsyncSession]
WRITE_LOCK_TIMEOUT_S = 30.0
READ_ONLY = "studio_read_only"


class SqliteBusy(OperationalError):
    """This process's transactions queued too long for SQLite's single write lock."""

    def __init__(self, message: str) -> None:
        super().__init__(message, None, Exception(message))


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.database_url)
    kwargs: dict[str, Any] = {"echo": settings.db_echo, "json_serializer": storable_json}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
    else:
        kwargs.update(pool_size=settings.db_pool_size, max_overflow=settings.db_pool_size)
    engine = create_async_engine(url, **kwargs)
    if url.get_backend_name() == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        _SqliteWriter().attach(engine)
    else:
        event.listen(engine.sync_engine.pool, "checkout", _drop_closed)
    return engine


def _drop_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """A pooled connection the server closed (a restart, ``pg_terminate_backend``, an idle timeout) is replaced
    at checkout, so the first request after a database restart does not fail.

    This replaces SQLAlchemy's ``pool_pre_ping``, which on asyncpg costs three round trips per checkout (BEGIN,
    an empty query, ROLLBACK): a fifth of the API's database time. The server's close reaches the driver as
    soon as the event loop reads the socket, so asking the driver costs nothing. A connection that dies
    without a word (a network partition) still fails its first statement; that answers UNAVAILABLE, and the
    pool drops the connection.
    """
    if record.driver_connection.is_closed():
        raise DisconnectionError("the server closed this pooled connection")


class _SqliteWriter:
    """Transactions of this process take SQLite's write lock one at a time, in the order they asked.

    The driver's own transaction handling emits no BEGIN before a SAVEPOINT, so releasing the first savepoint
    would commit half a unit of work; we turned it off on connect and begin explicitly, IMMEDIATE so that the
    write lock is taken up front (no read-to-write upgrade deadlock). SQLite has one writer anyway; left to
    its busy handler, concurrent transactions poll for the lock with growing sleeps, which costs far more
    than the work. An asyncio lock queues them instead; busy_timeout still covers other processes.

    The lock is released when the transaction ends, or at the latest when its connection goes back to the
    pool: a connection invalidated mid-statement (a cancelled task) ends without a usable ``Connection``.

    The "begin" hook is synchronous code that SQLAlchemy runs inside its greenlet; it waits for the asyncio lock
    through the driver adapter's ``run_async``, SQLAlchemy's documented way to await in an event hook.
    """

    def __init__(self) -> None:
        self._lock: asyncio.Lock | None = None
        self._holder: tuple[int, int] | None = None  # (id of the Connection, id of its DBAPI connection)

    def attach(self, engine: AsyncEngine) -> None:
        sync = engine.sync_engine
        event.listen(sync, "begin", self.begin)
        event.listen(sync, "commit", self.end)
        event.listen(sync, "rollback", self.end)
        for name in ("checkin", "invalidate", "soft_invalidate", "close", "close_detached", "detach"):
            event.listen(sync.pool, name, self.checkin)

    def begin(self, conn: Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")  # a WAL reader: neither waits for the writer nor blocks it
            return
        lock = self._lock = self._lock or asyncio.Lock()
        adapted = conn.connection.dbapi_connection
        if not isinstance(adapted, AdaptedConnection):  # pragma: no cover - aiosqlite's is always adapted
            raise TypeError(f"expected an asyncio driver connection, got {type(adapted).__name__}")
        dbapi_id = id(adapted)
        try:
            adapted.run_async(lambda _driver: asyncio.wait_for(lock.acquire(), WRITE_LOCK_TIMEOUT_S))
        except TimeoutError as exc:
            raise SqliteBusy(f"waited {WRITE_LOCK_TIMEOUT_S:g}s for the database write lock") from exc
        self._holder = (id(conn), dbapi_id)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            self._release()
            raise

    def end(self, conn: Connection) -> None:
        if self._holder is not None and self._holder[0] == id(conn):
            self._release()

    def checkin(self, dbapi_connection: Any, *_args: Any) -> None:
        if self._holder is not None and self._holder[1] == id(dbapi_connection):
            self._release()

    def _release(self) -> None:
        self._holder = None
        if self._lock is not None and self._lock.locked():
            self._lock.release()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN itself (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    # WAL lets readers proceed during a write; foreign keys are off by default in SQLite.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def read_only(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, for transactions that only read (they must not write): on SQLite they skip the write
    lock, so they never wait for a writer, and a reader cancelled mid-statement cannot leave the lock held
    (aiosqlite abandons such a connection without closing it); on PostgreSQL nothing changes."""
    return engine.execution_options(**{READ_ONLY: True})


def lone_reads(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, for a single query on its own, such as the user lookup behind every request: on PostgreSQL
    it runs in autocommit, one round trip where a transaction takes three (BEGIN, the query, ROLLBACK). No
    tenant is declared for it (row-level security declares one per session transaction), so the query itself
    must filter by tenant, as every query of the data-access layer does."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return read_only(engine)


def lone_statements(engine: AsyncEngine) -> AsyncEngine:
    """The same pool, for a statement that writes and needs no transaction around it (a conditional UPDATE is
    atomic on its own): on PostgreSQL it runs in autocommit, one round trip where a transaction takes three. On
    SQLite it is an ordinary write transaction: that is how a write takes the database's one write lock."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return engine


def unflushed_statements(engine: AsyncEngine, connections: int) -> AsyncEngine:
    """A pool of its own for lone statements whose commit need not wait for the disk: a worker's claim of a run.

    On PostgreSQL these commit with ``synchronous_commit = off``: the commit returns before its WAL record is
    flushed (3.4 ms per commit on this project's reference machine, one of the three commits on a run's
    critical path). Only a crash of the database server can lose such a commit, and then what it wrote is
    recoverable by design: a lost claim leaves the run unleased, so the holder's next write fails its lease
    fence, and the sweep re-dispatches the run (QUEUED runs without a lease, expired leases). Any later
    durable commit flushes the WAL up to itself, the claim included. Autocommit, as ``lone_statements``.
    On SQLite: ``lone_statements`` of the same pool (``synchronous=NORMAL`` already).
    Two connections stay open, up to ``connections`` at a burst (a claim holds one for a single round trip).
    The caller disposes the engine when it differs from the one given (see ``RunEngine.close``)."""
    if engine.dialect.name != "postgresql":
        return lone_statements(engine)
    quick = create_async_engine(
        engine.url,
        json_serializer=storable_json,
        isolation_level="AUTOCOMMIT",
        pool_size=min(2, connections),
        max_overflow=max(0, connections - 2),
        connect_args={"server_settings": {"synchronous_commit": "off"}},
    )
    event.listen(quick.sync_engine.pool, "checkout", _drop_closed)
    return quick


def session_factory(engine: AsyncEngine) -> Sessions:
    return async_sessionmaker(engine, expire_on_commit=False)
