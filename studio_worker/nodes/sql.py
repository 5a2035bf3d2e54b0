"""``sql.query``: one SQL statement against the PostgreSQL server of a ``postgres`` credential.

* The SQL is never a template: values come in through named parameters (``:name``), each a template of
  ``params``, translated to PostgreSQL's ``$1``, ``$2`` … and sent apart from the text (a prepared statement), so a
  value is data whatever it holds. ``::`` casts, string literals, quoted identifiers, comments and dollar-quoted
  bodies are skipped by the translation; ``$1`` written by hand is refused (use names).
* ``read_only`` (default) runs the statement in a ``READ ONLY`` transaction; otherwise the transaction commits.
  A write step is **at least once**: a step re-executed after a worker died (or retried after a timeout) runs its
  statement again, so make writes idempotent (``INSERT … ON CONFLICT DO NOTHING``, a key from
  ``{{ run.id }}``).
* Rows are read through a cursor, ``row_limit`` (+1, to know about more) at most, and a result stops early past
  ``STUDIO_SQL_MAX_RESULT_BYTES`` of JSON: ``truncated`` says there was more.
* ``statement_timeout`` is set for the session, and the client gives up a few seconds later whatever happens.
* The host passes the egress policy (one checked lookup; asyncpg connects to the checked address; ``verify-full``
  TLS checks the certificate against the name). The studio's own PostgreSQL server is refused unless
  ``STUDIO_SQL_ALLOW_STUDIO_DATABASE``: by address (the host of ``STUDIO_DATABASE_URL`` resolved, and every
  loopback address counted as one) and port before connecting, and by the server's ``system_identifier`` after
  connecting and before any statement (another name or address of the same server).
* Nothing of the credential reaches an error: messages are built from the server's error fields, and the
  password is masked in every text the step records.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import decimal
import ipaddress
import json
import math
import re
import ssl
import uuid
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from studio_shared import tracing
from studio_shared.credentials import ResolvedCredential
from studio_worker.egress import CannotConnect, EgressDenied, checked_addresses
from studio_worker.egress._addresses import IPAddress
from studio_worker.nodes.base import NodeContext, NodeError, NodeResult, NodeSpec
from studio_worker.nodes.redact import MASK

NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_KEYWORD = re.compile(r"\s*([A-Za-z]{1,16})\b")  # a statement's first keyword: its span's operation name
FETCH_CHUNK = 500
CLIENT_GRACE_S = 5.0
MAX_MESSAGE = 500
_RETRYABLE_CLASSES = ("08", "40", "53", "57P")  # connection, rollback (deadlock), resources, shutdown


# ------------------------------------------------------------------------------------------ the parameters


def translate(sql: str) -> tuple[str, list[str]]:
    """``sql`` with each ``:name`` replaced by ``$n`` (the same name, the same number), and the names in order."""
    out: list[str] = []
    names: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c == "'" or (c in "eE" and sql[i + 1 : i + 2] == "'" and not _ident_before(sql, i)):
            start = i
            backslashes = c != "'"
            i += 2 if backslashes else 1
            while i < n:
                if backslashes and sql[i] == "\\":
                    i += 2
                    continue
                if sql[i] == "'":
                    if sql[i + 1 : i + 2] == "'":
                        i += 2
                        continue
                    i += 1
                    break
                i += 1
            out.append(sql[start:i])
        elif c == '"':
            end = i + 1
            while end < n:
                if sql[end] == '"':
                    if sql[end + 1 : end + 2] == '"':
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1])
            i = end + 1
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
        elif sql.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if sql.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif sql.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    j += 1
            out.append(sql[i:j])
            i = j
        elif c == "$":
            tag = _DOLLAR_TAG.match(sql, i)
            if tag and not _ident_before(sql, i):
                close = sql.find(tag.group(0), tag.end())
                end = n if close < 0 else close + len(tag.group(0))
                out.append(sql[i:end])
                i = end
            elif sql[i + 1 : i + 2].isdigit() and not _ident_before(sql, i):
                raise NodeError(
                    "InvalidSql", "positional parameters ($1) are not used here: write :name and give it in params"
                )
            else:
                out.append(c)
                i += 1
        elif c == "{" and sql.startswith("{{", i):
            raise NodeError(
                "InvalidSql",
                "the SQL is not a template: write :name where a value goes, and give it in params "
                '(e.g. params {"name": "{{ input.name }}"})',
            )
        elif c == ":":
            if sql.startswith("::", i):
                out.append("::")
                i += 2
                continue
            name = NAME.match(sql, i + 1)
            if name is None:
                out.append(c)
                i += 1
                continue
            if name.group(0) not in names:
                names.append(name.group(0))
            out.append(f"${names.index(name.group(0)) + 1}")
            i = name.end()
        else:
            out.append(c)
            i += 1
    return "".join(out), names


def _ident_before(sql: str, i: int) -> bool:
    return i > 0 and (sql[i - 1].isalnum() or sql[i - 1] in "_$")


def _coerce(value: Any, pg_type: Any, name: str) -> Any:
    """A JSON value as asyncpg wants it for the parameter's type (text for unknown types); a clear error if not."""
    return _coerce_to(value, str(pg_type.name), str(pg_type.kind) == "array", name)


def _coerce_to(value: Any, type_name: str, array: bool, name: str) -> Any:
    if value is None:
        return None
    if array:  # asyncpg names an array type after its element: int4[]
        if not isinstance(value, list):
            raise NodeError("InvalidParameter", f"params.{name} must be a list for {type_name}")
        return [_coerce_to(v, type_name.removesuffix("[]").removeprefix("_"), False, name) for v in value]
    try:
        if type_name in ("int2", "int4", "int8", "oid"):
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if type_name in ("float4", "float8"):
            if isinstance(value, bool):
                raise ValueError
            return float(value)
        if type_name == "numeric":
            if isinstance(value, bool):
                raise ValueError
            return decimal.Decimal(str(value))
        if type_name == "bool":
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "false"):
                return value.lower() == "true"
            raise ValueError
        if type_name in ("json", "jsonb"):
            return value  # encoded by the connection's JSON codec
        if type_name == "uuid":
            return uuid.UUID(str(value))
        if type_name == "timestamptz":
            parsed = dt.datetime.fromisoformat(str(value))
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        if type_name == "timestamp":
            return dt.datetime.fromisoformat(str(value)).replace(tzinfo=None)
        if type_name == "date":
            return dt.date.fromisoformat(str(value))
        if type_name == "bytea":
            return base64.b64decode(str(value), validate=True)
    except (ValueError, TypeError, decimal.InvalidOperation, ArithmeticError):
        shown = json.dumps(value)[:80]
        raise NodeError("InvalidParameter", f"params.{name} is {shown}, which is not a valid {type_name}") from None
    if isinstance(value, dict | list):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# ------------------------------------------------------------------------------------------ the results


def to_json(value: Any) -> Any:
    """A column value as JSON: numbers stay numbers (numeric as text, exact), times ISO 8601, bytes base64."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")  # PostgreSQL's spelling
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    return str(value)  # UUID, inet, ranges, geometry, records: their text form


def _columns(attributes: Any) -> tuple[list[dict[str, str]], list[str]]:
    columns, keys, seen = [], [], set()
    for attribute in attributes:
        key, k = attribute.name, 2
        while key in seen:
            key, k = f"{attribute.name}_{k}", k + 1
        seen.add(key)
        keys.append(key)
        columns.append({"name": key, "type": str(attribute.type.name)})
    return columns, keys


# ------------------------------------------------------------------------------------------ the studio's database


_LOOPBACK = "loopback"


def _server_key(address: IPAddress) -> str:
    """Loopback (and the unspecified address, which reaches this machine) count as one server address."""
    if address.is_loopback or address.is_unspecified:
        return _LOOPBACK
    return str(address)


class StudioDatabase:
    """Where the studio's own PostgreSQL server is, to refuse steps that point at it (cached per process)."""

    def __init__(self) -> None:
        self._identities: dict[str, str | None] = {}

    async def addresses(self, services: Any) -> tuple[set[str], set[str], int] | None:
        """(host names, server address keys, port) of STUDIO_DATABASE_URL, or None when it is not PostgreSQL."""
        url = make_url(services.settings.database_url)
        if not url.drivername.startswith("postgresql"):
            return None
        host = (url.host or "localhost").lower().rstrip(".")
        port = int(url.port or 5432)
        keys: set[str] = set()
        try:
            parsed: IPAddress = ipaddress.ip_address(host)
            keys.add(_server_key(parsed))
        except ValueError:
            with contextlib.suppress(OSError):
                infos = await asyncio.get_running_loop().getaddrinfo(host, port)
                keys.update(_server_key(ipaddress.ip_address(str(info[4][0]).split("%")[0])) for info in infos)
        return {host}, keys, port

    async def identity(self, db: AsyncEngine) -> str | None:
        """The studio's server's ``system_identifier`` (None on SQLite, or where the function is not granted)."""
        key = db.url.render_as_string(hide_password=True)
        if key not in self._identities:
            identity = None
            if db.dialect.name == "postgresql":
                with contextlib.suppress(Exception):
                    async with db.connect() as conn:
                        found = await conn.exec_driver_sql("SELECT system_identifier::text FROM pg_control_system()")
                        identity = found.scalar()
            self._identities[key] = None if identity is None else str(identity)
        return self._identities[key]


STUDIO_DATABASE = StudioDatabase()


def _refuse_studio(credential: ResolvedCredential) -> NodeError:
    return NodeError(
        "StudioDatabaseRefused",
        f"credential {credential.name!r} points at the studio's own database server; an operator may allow that "
        "with STUDIO_SQL_ALLOW_STUDIO_DATABASE=true",
    )


# ------------------------------------------------------------------------------------------ the node


class _PinnedNameContext(ssl.SSLContext):
    """TLS to a checked address that still verifies the certificate against the credential's host name."""

    pinned_name: str = ""

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.pinned_name, session)


def _tls(mode: str, host: str) -> ssl.SSLContext | bool:
    if mode == "disable":
        return False
    if mode == "verify-full":
        context = _PinnedNameContext(ssl.PROTOCOL_TLS_CLIENT)
        context.pinned_name = host
        context.load_default_certs()
        return context
    plain = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # require: encrypted, certificate not checked
    plain.check_hostname = False
    plain.verify_mode = ssl.CERT_NONE
    return plain


class _Redact:
    def __init__(self, credential: ResolvedCredential) -> None:
        self.secrets = [s for s in credential.secrets() if s]

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, MASK)
        return text[:MAX_MESSAGE]


def _pg_error(exc: asyncpg.PostgresError, redact: _Redact, names: list[str], read_only: bool) -> NodeError:
    state = str(getattr(exc, "sqlstate", "") or "")
    message = str(getattr(exc, "message", "") or exc or type(exc).__name__).splitlines()[0]
    detail = f"{message} (SQLSTATE {state})" if state else message
    for i, name in reversed(list(enumerate(names, 1))):  # $12 before $1
        detail = detail.replace(f"${i}", f":{name}")
    if isinstance(exc, asyncpg.exceptions.ReadOnlySQLTransactionError) and read_only:
        return NodeError(
            "ReadOnlyViolation",
            redact(f"the statement writes, and the step is read-only: {detail}; set read_only to false to write"),
        )
    if isinstance(exc, asyncpg.exceptions.QueryCanceledError):
        return NodeError("Timeout", redact(f"the statement ran past its timeout: {detail}"), retryable=True)
    if state.startswith("28"):
        return NodeError("AuthFailed", redact(f"the server refused the credential: {detail}"))
    retryable = state.startswith(_RETRYABLE_CLASSES)
    return NodeError("SqlError", redact(detail), retryable=retryable)


async def sql_query(ctx: NodeContext, config: dict[str, Any]) -> NodeResult:
    services = ctx.need_services()
    settings = services.settings
    credential = await ctx.credential(str(config["credential"]))
    if credential.kind != "postgres":
        raise NodeError(
            "CredentialKind", f"credential {credential.name!r} is a {credential.kind} credential; use a postgres one"
        )
    redact = _Redact(credential)
    text, names = translate(str(config["sql"]))
    params = config.get("params") or {}
    if not isinstance(params, dict):
        raise NodeError("InvalidConfig", "config.params must be an object of name: value")
    missing = [name for name in names if name not in params]
    if missing:
        raise NodeError("InvalidConfig", f"the SQL uses :{missing[0]}, which config.params does not give")
    unused = [name for name in params if name not in names]
    if unused:
        raise NodeError("InvalidConfig", f"params.{unused[0]} is not used in the SQL (write :{unused[0]} in it)")
    read_only = bool(config.get("read_only", True))
    row_limit = int(config.get("row_limit") or 1000)
    if row_limit > settings.sql_max_rows:
        raise NodeError(
            "InvalidConfig",
            f"row_limit {row_limit} is above this studio's limit of {settings.sql_max_rows} (STUDIO_SQL_MAX_ROWS)",
        )
    timeout_ms = int(config.get("statement_timeout_ms") or 30_000)
    connect_timeout_s = float(config.get("connect_timeout_s") or 10)

    value = credential.value
    host, port = str(value["host"]), int(value.get("port") or 5432)
    try:
        addresses = await checked_addresses(services.policy, host, port, resolver=services.resolver)
    except EgressDenied as exc:
        raise NodeError("EgressDenied", f"{exc}: check the host of credential {credential.name!r}") from None
    except CannotConnect as exc:
        raise NodeError("ConnectionError", redact(f"database {host}: {exc}"), retryable=True) from None
    if not settings.sql_allow_studio_database:
        studio = await STUDIO_DATABASE.addresses(services)
        if studio is not None:
            studio_names, studio_keys, studio_port = studio
            same_name = host.lower().rstrip(".") in studio_names
            if port == studio_port and (same_name or {_server_key(a) for a in addresses} & studio_keys):
                raise _refuse_studio(credential)

    conn = await _connect(ctx, credential, addresses, port, timeout_ms, connect_timeout_s, redact)
    try:
        async with asyncio.timeout(timeout_ms / 1000 + CLIENT_GRACE_S):
            if not settings.sql_allow_studio_database:
                studio_identity = await STUDIO_DATABASE.identity(services.db)
                if studio_identity is not None:
                    theirs = None
                    with contextlib.suppress(asyncpg.PostgresError):
                        theirs = await conn.fetchval("SELECT system_identifier::text FROM pg_control_system()")
                    if theirs == studio_identity:
                        raise _refuse_studio(credential)
            # A client span (the step's is its parent): the server and the statement's first keyword, never its text.
            keyword = _KEYWORD.match(text)
            operation = keyword.group(1).upper() if keyword else "STATEMENT"
            attributes = {"db.system.name": "postgresql", "db.operation.name": operation, "server.address": host}
            with tracing.span(f"SQL {operation}", {**attributes, "server.port": port}, kind="client") as current:
                output = await _run(ctx, conn, text, names, params, read_only, row_limit)
                if current is not None:
                    current.set_attribute("db.response.returned_rows", len(output["rows"]))
    except TimeoutError:
        raise NodeError(
            "Timeout", f"the database did not answer within {timeout_ms / 1000 + CLIENT_GRACE_S:g} s", retryable=True
        ) from None
    except asyncpg.PostgresError as exc:
        raise _pg_error(exc, redact, names, read_only) from None
    except asyncpg.InterfaceError as exc:
        raise NodeError("SqlError", redact(str(exc))) from None
    except (OSError, asyncpg.exceptions.ConnectionDoesNotExistError) as exc:
        raise NodeError("ConnectionError", redact(f"database {host}: {exc}"), retryable=True) from None
    finally:
        try:
            await asyncio.wait_for(conn.close(), 2)
        except asyncio.CancelledError:
            conn.terminate()
            raise
        except Exception:  # a connection stuck mid-statement (the client timeout): drop it
            conn.terminate()
    return NodeResult(output=output)


async def _connect(
    ctx: NodeContext,
    credential: ResolvedCredential,
    addresses: list[IPAddress],
    port: int,
    timeout_ms: int,
    connect_timeout_s: float,
    redact: _Redact,
) -> asyncpg.Connection:
    value = credential.value
    host = str(value["host"])
    failure = ""
    for address in addresses:
        try:
            conn: asyncpg.Connection = await asyncpg.connect(
                host=str(address),  # the checked address: nothing is looked up again
                port=port,
                user=str(value["user"]),
                password=str(value.get("password") or ""),  # never None: asyncpg would read the worker's .pgpass
                database=str(value["database"]),
                ssl=_tls(str(value.get("sslmode") or "require"), host),
                direct_tls=False,
                timeout=connect_timeout_s,
                statement_cache_size=0,
                server_settings={
                    "application_name": "workflow-studio sql.query",
                    "statement_timeout": str(timeout_ms),
                    "idle_in_transaction_session_timeout": str(timeout_ms + int(CLIENT_GRACE_S * 1000)),
                },
            )
        except asyncpg.PostgresError as exc:
            raise _pg_error(exc, redact, [], True) from None
        except (OSError, TimeoutError, asyncpg.exceptions.ConnectionDoesNotExistError) as exc:
            failure = str(exc) or type(exc).__name__
            continue
        except (asyncpg.InterfaceError, ssl.SSLError, ConnectionError) as exc:
            message = str(exc) or type(exc).__name__
            if "SSL" in message or isinstance(exc, ssl.SSLError):
                message += " (check the credential's TLS mode: the server may not offer TLS, or its certificate failed)"
            raise NodeError("ConnectionError", redact(f"database {host}: {message}")) from None
        await conn.set_type_codec("json", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
        return conn
    raise NodeError("ConnectionError", redact(f"database {host} port {port}: {failure}"), retryable=True)


async def _run(
    ctx: NodeContext,
    conn: asyncpg.Connection,
    text: str,
    names: list[str],
    params: dict[str, Any],
    read_only: bool,
    row_limit: int,
) -> dict[str, Any]:
    limit_bytes = ctx.need_services().settings.sql_max_result_bytes
    async with conn.transaction(readonly=read_only):
        statement = await conn.prepare(text)
        types = statement.get_parameters()
        args = [_coerce(params[name], pg_type, name) for name, pg_type in zip(names, types, strict=True)]
        attributes = statement.get_attributes()
        if not attributes:  # a command without a result (INSERT without RETURNING, DDL): what it affected
            await statement.fetch(*args)
            status = statement.get_statusmsg() or ""
            count = status.rsplit(" ", 1)[-1]
            affected = int(count) if count.isdigit() else 0
            ctx.log(f"{status or 'done'}")
            return {"rows": [], "row_count": affected, "truncated": False, "columns": [], "command": status}
        columns, keys = _columns(attributes)
        rows: list[dict[str, Any]] = []
        size, truncated = 0, False
        cursor = await statement.cursor(*args)
        while True:
            want = min(FETCH_CHUNK, row_limit + 1 - len(rows))  # one past the limit: is there more?
            chunk = await cursor.fetch(want)
            for record in chunk:
                if len(rows) == row_limit:
                    truncated = True
                    break
                row = {key: to_json(v) for key, v in zip(keys, record, strict=True)}
                size += len(json.dumps(row, ensure_ascii=False))
                if size > limit_bytes:
                    truncated = True
                    ctx.log(f"stopped after {len(rows)} rows: the result passed {limit_bytes} bytes")
                    break
                rows.append(row)
            if truncated or len(chunk) < want:
                break
        command = f"SELECT {len(rows)}"
    ctx.log(f"{len(rows)} rows{' (truncated)' if truncated else ''}")
    return {"rows": rows, "row_count": len(rows), "truncated": truncated, "columns": columns, "command": command}


SPECS = [NodeSpec("sql.query", sql_query, raw_fields=frozenset({"sql"}))]
