"""sql.query against the real PostgreSQL (a database of the test session's own, in both passes: the studio's own
database is SQLite in one and PostgreSQL in the other, the node always talks to PostgreSQL): parameters that stay
data, read-only steps, timeouts, capped results, the egress policy, the studio's own server, and secrets."""

from __future__ import annotations

import asyncio
import json
import secrets
import signal
import ssl
import struct
import sys
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from sqlalchemy.ext.asyncio import create_async_engine

from studio_gql.state import AppState
from studio_shared.authoring import check_templates
from studio_shared.credentials import check
from studio_shared.schemas import load_registry
from studio_worker.nodes.base import NodeError
from studio_worker.nodes.sql import STUDIO_DATABASE, _tls, sql_query, to_json, translate
from tests.conftest import POSTGRES_ADMIN_URL, SERVICES, TenantFixture, Workers, missing_service
from tests.spans import one, spans_of
from tests.tls_certs import ThrowawayCA
from tests.worker.engine_harness import StepMaker, chain, direct_steps, load, publish, run_once, wait_for
from tests.worker.test_nodes_io import add_credential, node, recorded_text
from tests.worker.test_recovery import replace_workers, stop_worker

pytestmark = pytest.mark.usefixtures("workers")
__all__ = ["replace_workers"]  # the fixture, shared with the recovery tests
PASSWORD = "pg-pw-5e0b7c93a1"  # the server trusts 127.0.0.1, so it is never checked; it must never be recorded
INJECTIONS = [
    "'; DROP TABLE items; --",
    "x' OR '1'='1",
    "Robert'); DROP TABLE items;--",
    "1; DELETE FROM items",
    "$$; DROP TABLE items; $$",
    "\\'; DROP TABLE items; --",
    ":name",
    "$1",
    "{{ run.id }}",
    "plain é 😀",
]


@pytest.fixture(scope="session")
def sql_database() -> Iterator[str]:
    """A database of the session's own on the test PostgreSQL server, dropped at the end."""
    name = f"studio_sqlnode_{secrets.token_hex(4)}"

    async def admin(statement: str) -> None:
        conn = await asyncpg.connect(POSTGRES_ADMIN_URL, timeout=5)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    try:
        asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    except (OSError, TimeoutError) as exc:
        missing_service("PostgreSQL", f"{exc!r}; sql.query's tests need it on 127.0.0.1:5432")
    try:
        yield name
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def server_url(database: str) -> str:
    return f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{database}"


@pytest.fixture(autouse=True)
async def items(sql_database: str) -> AsyncIterator[None]:
    conn = await asyncpg.connect(server_url(sql_database))
    try:
        await conn.execute(
            """DROP TABLE IF EXISTS items;
            CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, price numeric(10, 2), seen timestamptz,
                                data jsonb, tag uuid, raw bytea, ratio float8, day date);
            INSERT INTO items (name, price, seen, data, tag, raw, ratio, day) VALUES
              ('apple', 1.50, '2026-12-07 10:00:00+00', '{"colour": "red", "n": [1, 2]}',
               'a3bb189e-8bf9-3888-9912-ace4e6543002', '\\x00ff', 'NaN', '2026-12-07'),
              ('pear', 2.25, NULL, NULL, NULL, NULL, 0.5, NULL);"""
        )
        yield
    finally:
        await conn.close()


async def pg_credential(
    state: AppState, tenant: TenantFixture, database_name: str, name: str = "db", **changes: Any
) -> None:
    value = {
        "host": "127.0.0.1",
        "port": 5432,
        "database": database_name,
        "user": "postgres",
        "password": PASSWORD,
        "sslmode": "disable",
        **changes,
    }
    await add_credential(state, tenant, name, "postgres", value)


async def count_items(database: str) -> int:
    conn = await asyncpg.connect(server_url(database))
    try:
        return int(await conn.fetchval("SELECT count(*) FROM items"))
    finally:
        await conn.close()


async def test_rows_come_back_as_json_with_their_columns(
    state: AppState, tenant: TenantFixture, sql_database: str
) -> None:
    await pg_credential(state, tenant, sql_database)
    query = node(
        "query",
        "sql.query",
        credential="db",
        sql="SELECT id, name, price, seen, data, tag, raw, ratio, day, 1 AS id FROM items "
        "WHERE price >= :least::numeric ORDER BY items.id",
        params={"least": "{{ input.least }}"},
    )
    finished = await run_once(state, tenant, chain(query), input={"least": 1})
    assert finished.run.status.value == "SUCCEEDED", finished.steps["query"].error
    output = finished.steps["query"].output
    assert output["rows"][0] == {
        "id": 1,
        "name": "apple",
        "price": "1.50",  # numeric as text: exact
        "seen": "2026-12-07T10:00:00+00:00",
        "data": {"colour": "red", "n": [1, 2]},
        "tag": "a3bb189e-8bf9-3888-9912-ace4e6543002",
        "raw": "AP8=",  # bytea in base64
        "ratio": "NaN",  # not a JSON number
        "day": "2026-12-07",
        "id_2": 1,  # a repeated column name gets a suffix
    }
    assert output["rows"][1]["seen"] is None and output["rows"][1]["ratio"] == 0.5
    assert output["row_count"] == 2 and output["truncated"] is False
    assert [c["type"] for c in output["columns"]] == [
        "int4", "text", "numeric", "timestamptz", "jsonb", "uuid", "bytea", "float8", "date", "int4"
    ]  # fmt: skip
    assert PASSWORD not in recorded_text(finished)


@pytest.mark.parametrize("value", INJECTIONS)
async def test_parameters_are_data_whatever_they_hold(
    state: AppState, tenant: TenantFixture, sql_database: str, value: str
) -> None:
    await pg_credential(state, tenant, sql_database)
    write = node(
        "write",
        "sql.query",
        credential="db",
        sql="INSERT INTO items (name) VALUES (:name) RETURNING name",
        params={"name": "{{ input.value }}"},
        read_only=False,
    )
    read = node(
        "read",
        "sql.query",
        credential="db",
        sql="SELECT count(*) AS n FROM items WHERE name = :name -- a :comment and a ':string' are not parameters",
        params={"name": "{{ input.value }}"},
    )
    finished = await run_once(state, tenant, chain(write, read), input={"value": value})
    assert finished.run.status.value == "SUCCEEDED", [s.error for s in finished.steps.values()]
    assert finished.steps["write"].output["rows"] == [{"name": value}]
    assert finished.steps["read"].output["rows"] == [{"n": 1}]
    assert await count_items(sql_database) == 3  # the table is intact, with the value stored as data


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO items (name) VALUES ('x')",
        "UPDATE items SET name = 'x'",
        "DELETE FROM items",
        "DROP TABLE items",
        "CREATE TABLE other (id int)",
        "WITH gone AS (DELETE FROM items RETURNING id) SELECT count(*) FROM gone",
        "SELECT nextval('items_id_seq')",
    ],
)
async def test_a_read_only_step_cannot_write(
    state: AppState, tenant: TenantFixture, sql_database: str, statement: str
) -> None:
    await pg_credential(state, tenant, sql_database)
    finished = await run_once(state, tenant, chain(node("q", "sql.query", credential="db", sql=statement)))
    error = finished.steps["q"].error
    assert error["type"] == "ReadOnlyViolation", error
    assert "set read_only to false" in error["message"]
    assert error["retryable"] is False
    assert await count_items(sql_database) == 2


async def test_a_write_step_commits_and_reports_what_it_changed(
    state: AppState, tenant: TenantFixture, sql_database: str
) -> None:
    await pg_credential(state, tenant, sql_database)
    update = node(
        "q", "sql.query", credential="db", sql="UPDATE items SET price = :p", params={"p": 9}, read_only=False
    )
    finished = await run_once(state, tenant, chain(update))
    assert finished.steps["q"].output == {
        "rows": [],
        "row_count": 2,
        "truncated": False,
        "columns": [],
        "command": "UPDATE 2",
    }
    conn = await asyncpg.connect(server_url(sql_database))
    try:
        assert await conn.fetchval("SELECT sum(price)::text FROM items") == "18.00"
    finally:
        await conn.close()


async def test_a_statement_past_its_timeout_is_cancelled(
    state: AppState, tenant: TenantFixture, sql_database: str
) -> None:
    await pg_credential(state, tenant, sql_database)
    slow = node("q", "sql.query", credential="db", sql="SELECT pg_sleep(30)", statement_timeout_ms=200)
    finished = await run_once(state, tenant, chain(slow))
    error = finished.steps["q"].error
    assert error["type"] == "Timeout", error
    assert "statement timeout" in error["message"]
    assert error["retryable"] is True


@pytest.fixture
async def step(state: AppState, tenant: TenantFixture) -> AsyncIterator[StepMaker]:
    """The context of one step of a real run, with settings changed for the test, for direct executions."""
    async with direct_steps(state, tenant, "sql.query", "q") as make:
        yield make


async def test_a_million_rows_are_capped_at_the_limit_in_bounded_memory(
    state: AppState, tenant: TenantFixture, sql_database: str, step: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    await pg_credential(state, tenant, sql_database)
    ctx = await step()
    config = {"credential": "db", "sql": "SELECT g, md5(g::text) AS h FROM generate_series(1, 1000000) g"}
    tracemalloc.start()
    try:
        output = (await sql_query(ctx, {**config, "row_limit": 1000})).output
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert output["row_count"] == len(output["rows"]) == 1000
    assert output["truncated"] is True
    assert output["rows"][-1]["g"] == 1000
    assert peak < 16 * 1024 * 1024, f"peak {peak} bytes: the rows past the limit were read"  # all of it: ~390 MB
    with capsys.disabled():
        sys.stdout.write(f"\nsql.query over 1,000,000 rows, row_limit 1000: peak Python allocations {peak:,} bytes\n")
    exact = (await sql_query(ctx, {**config, "sql": "SELECT g FROM generate_series(1, 1000) g"})).output
    assert exact["row_count"] == 1000 and exact["truncated"] is False  # exactly the limit is not truncated
    small = await step({"sql_max_result_bytes": 2048})
    stopped = (await sql_query(small, config)).output
    assert stopped["truncated"] is True and 0 < stopped["row_count"] < 100
    with pytest.raises(NodeError) as above:
        await sql_query(await step({"sql_max_rows": 10}), {**config, "row_limit": 11})
    assert above.value.type == "InvalidConfig" and "STUDIO_SQL_MAX_ROWS" in above.value.message


async def test_the_studios_own_database_server_is_refused_unless_allowed(
    state: AppState, tenant: TenantFixture, sql_database: str, step: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As if the studio's database were this session's: its server is refused, whatever database is named."""
    await pg_credential(state, tenant, sql_database)
    await pg_credential(state, tenant, sql_database, name="other-db", database="postgres")
    await pg_credential(state, tenant, sql_database, name="by-name", host="localhost")
    studio_url = server_url(sql_database).replace("postgresql://", "postgresql+asyncpg://", 1)
    config = {"credential": "db", "sql": "SELECT 1 AS one"}
    for name in ("db", "other-db"):
        ctx = await step({"database_url": studio_url, "sql_allow_studio_database": False})
        with pytest.raises(NodeError) as refused:
            await sql_query(ctx, {**config, "credential": name})
        assert refused.value.type == "StudioDatabaseRefused"
        assert "STUDIO_SQL_ALLOW_STUDIO_DATABASE=true" in refused.value.message
    # Another spelling of the same server (a name; the settings' host is not how the credential reaches it):
    # refused by the server's identity, read after connecting and before any statement.
    # The studio's engine is this session's database (SQLite in one pass): its identity is read from that server.
    engine = create_async_engine(studio_url)
    read_identity = STUDIO_DATABASE.identity
    monkeypatch.setattr(STUDIO_DATABASE, "identity", lambda db: read_identity(engine))
    try:
        alias = await step(
            {
                "database_url": studio_url.replace("127.0.0.1", "studio-db.invalid"),
                "sql_allow_studio_database": False,
                "http_allowed_hosts": "127.0.0.1/32,localhost",
            }
        )
        with pytest.raises(NodeError) as by_identity:
            await sql_query(alias, {**config, "credential": "by-name"})
        assert by_identity.value.type == "StudioDatabaseRefused"
    finally:
        await engine.dispose()
    allowed = await step({"database_url": studio_url, "sql_allow_studio_database": True})
    assert (await sql_query(allowed, config)).output["rows"] == [{"one": 1}]


async def test_the_database_host_passes_the_egress_policy(
    state: AppState, tenant: TenantFixture, sql_database: str, step: Any
) -> None:
    await pg_credential(state, tenant, sql_database)
    await pg_credential(state, tenant, sql_database, name="meta", host="169.254.169.254")
    ctx = await step({"http_allowed_hosts": "", "http_allow_private": False})
    for name in ("db", "meta"):
        with pytest.raises(NodeError) as refused:
            await sql_query(ctx, {"credential": name, "sql": "SELECT 1"})
        assert refused.value.type == "EgressDenied"
        assert refused.value.retryable is False


async def serve_password_echo() -> tuple[asyncio.Server, int]:
    """A PostgreSQL server that asks for a clear-text password and quotes it back in its error."""

    async def session(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        (length,) = struct.unpack("!I", await reader.readexactly(4))
        await reader.readexactly(length - 4)  # the startup message
        writer.write(b"R" + struct.pack("!II", 8, 3))  # AuthenticationCleartextPassword
        await writer.drain()
        _kind, length = struct.unpack("!cI", await reader.readexactly(5))
        password = (await reader.readexactly(length - 4)).rstrip(b"\0")
        fields = b"SFATAL\0VFATAL\0C28P01\0M" + b"password authentication failed: " + password + b" is wrong\0\0"
        writer.write(b"E" + struct.pack("!I", len(fields) + 4) + fields)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(session, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def test_the_password_never_reaches_an_error(state: AppState, tenant: TenantFixture) -> None:
    server, port = await serve_password_echo()
    try:
        await pg_credential(state, tenant, "any", name="echo", port=port)
        finished = await run_once(state, tenant, chain(node("q", "sql.query", credential="echo", sql="SELECT 1")))
    finally:
        server.close()
        await server.wait_closed()
    error = finished.steps["q"].error
    assert error["type"] == "AuthFailed", error
    assert error["message"] == (
        "the server refused the credential: password authentication failed: [REDACTED] is wrong (SQLSTATE 28P01)"
    )
    assert PASSWORD not in recorded_text(finished)


@pytest.mark.parametrize(
    ("config", "error"),
    [
        ({"sql": "SELECT :n::int", "params": {"n": "abc"}}, "InvalidParameter"),
        ({"sql": "SELECT :n::int", "params": {}}, "InvalidConfig"),
        ({"sql": "SELECT 1", "params": {"n": 1}}, "InvalidConfig"),
        ({"sql": "SELECT $1", "params": {}}, "InvalidSql"),
        ({"sql": "SELECT * FROM items WHERE name = {{ input.name }}"}, "InvalidSql"),
        ({"sql": "SELECT * FROM nowhere"}, "SqlError"),
        ({"sql": "SELECT 1; SELECT 2"}, "SqlError"),
    ],
)
async def test_mistakes_get_clear_errors(
    state: AppState, tenant: TenantFixture, sql_database: str, step: Any, config: dict[str, Any], error: str
) -> None:
    await pg_credential(state, tenant, sql_database)
    with pytest.raises(NodeError) as failed:
        await sql_query(await step(), {"credential": "db", **config})
    assert failed.value.type == error, failed.value.as_dict()
    assert failed.value.retryable is False


async def test_parameters_take_the_type_the_statement_needs(
    state: AppState, tenant: TenantFixture, sql_database: str, step: Any
) -> None:
    await pg_credential(state, tenant, sql_database)
    config = {
        "credential": "db",
        "sql": "SELECT :i::int8 + 1 AS i, :d::numeric * 2 AS d, :b::bool AS b, :j::jsonb -> 'k' AS j, "
        ":t::timestamptz AS t, :u::uuid AS u, :a::int[] AS a, :s::text AS s",
        "params": {
            "i": "41",
            "d": 1.25,
            "b": "true",
            "j": {"k": [1]},
            "t": "2026-12-07T10:00:00Z",
            "u": "a3bb189e-8bf9-3888-9912-ace4e6543002",
            "a": [1, 2],
            "s": 3,
        },
    }
    [row] = (await sql_query(await step(), config)).output["rows"]
    assert row == {
        "i": 42,
        "d": "2.50",
        "b": True,
        "j": [1],
        "t": "2026-12-07T10:00:00+00:00",
        "u": "a3bb189e-8bf9-3888-9912-ace4e6543002",
        "a": [1, 2],
        "s": "3",
    }


def test_the_sql_is_not_checked_as_a_template() -> None:
    """A SQL text holding {% or {{ in a literal is not a broken template: publishing it raises no template problem."""
    sql = "SELECT '{{1,2},{3,4}}'::int[][] AS grid, '{% raw' AS text WHERE :x = 1"
    definition = chain(node("q", "sql.query", credential="db", sql=sql, params={"x": "{{ input.x }}"}))
    assert check_templates(definition, load_registry()) == []
    broken = chain(node("q", "sql.query", credential="db", sql="SELECT :x", params={"x": "{{ nope.x }}"}))
    assert [p.dotted for p in check_templates(broken, load_registry())] == ["nodes[1].config.params.x"]


def test_named_parameters_skip_literals_comments_and_casts() -> None:
    sql = "SELECT :a, :a::int, ':b', \"x:y\", $$ :c $$, E'\\' :d', $t$ :e $t$ -- :f\n/* :g /* :h */ */ :i"
    assert translate(sql) == (
        "SELECT $1, $1::int, ':b', \"x:y\", $$ :c $$, E'\\' :d', $t$ :e $t$ -- :f\n/* :g /* :h */ */ $2",
        ["a", "i"],
    )
    assert translate("SELECT arr[1:2], x::text, a$1") == ("SELECT arr[1:2], x::text, a$1", [])


def test_values_convert_predictably() -> None:
    assert [to_json(float(x)) for x in ("inf", "-inf", "nan")] == ["Infinity", "-Infinity", "NaN"]
    assert to_json(b"\x00") == "AA=="
    assert to_json([(1, "a")]) == [[1, "a"]]


def test_postgres_credentials_are_checked_field_by_field() -> None:
    good = {"host": "db.example.org", "database": "shop", "user": "reader"}
    assert check("m", "postgres", good, None) == []
    assert check("m", "postgres", {**good, "password": "p", "port": 6432, "sslmode": "verify-full"}, None) == []
    problems = {
        p.dotted for p in check("m", "postgres", {**good, "host": "/var/run/postgresql", "sslmode": "prefer"}, None)
    }
    assert problems == {"value.host", "value.sslmode"}
    assert {p.dotted for p in check("m", "postgres", {"host": "h"}, None)} == {"value"}


async def test_verify_full_checks_the_credentials_host_name_on_the_checked_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """asyncpg is handed the checked address; verify-full still checks the certificate against the host name."""
    ca = ThrowawayCA.create(tmp_path)
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=ca.server_context("db.test"))
    port = server.sockets[0].getsockname()[1]
    loop = asyncio.get_running_loop()

    async def handshake(context: ssl.SSLContext | bool) -> None:
        transport, _ = await loop.create_connection(
            asyncio.Protocol, "127.0.0.1", port, ssl=context, server_hostname="127.0.0.1"
        )  # what asyncpg does with host=<address>
        transport.close()

    try:
        with pytest.raises(ssl.SSLCertVerificationError):  # the test CA is not trusted yet
            await handshake(_tls("verify-full", "db.test"))
        monkeypatch.setenv("SSL_CERT_FILE", str(ca.ca_file))
        await handshake(_tls("verify-full", "db.test"))
        with pytest.raises(ssl.SSLCertVerificationError, match="Hostname mismatch"):
            await handshake(_tls("verify-full", "other.test"))
        await handshake(_tls("require", "other.test"))  # require encrypts without checking
        assert _tls("disable", "db.test") is False
    finally:
        server.close()
        await server.wait_closed()


# -- kill -9 of the worker running a statement (services mode: real worker processes) -----------------------------


async def statement_running(database: str) -> bool:
    conn = await asyncpg.connect(server_url(database))
    try:
        found = await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2 "
            "AND query LIKE '%pg_sleep%' AND state = 'active'",
            database,
            "workflow-studio sql.query",
        )
        return bool(found)
    finally:
        await conn.close()


@pytest.mark.skipif(not SERVICES, reason="needs worker processes: runs in the postgres pass (make test)")
@pytest.mark.slow
@pytest.mark.parametrize("read_only", [True, False])
async def test_kill_9_of_the_worker_running_a_statement(
    state: AppState, tenant: TenantFixture, sql_database: str, replace_workers: Workers, read_only: bool
) -> None:
    """The next worker runs the statement again; a write cut off before its commit was rolled back with the dead
    connection, so it is done once (a write killed after its commit would be done twice: at least once)."""
    await pg_credential(state, tenant, sql_database)
    sql = (
        "SELECT count(*) AS n FROM items, pg_sleep(1.5)"
        if read_only
        else "INSERT INTO items (name) SELECT 'once' FROM pg_sleep(1.5) RETURNING name"
    )
    query = node("q", "sql.query", credential="db", sql=sql, read_only=read_only)
    workflow_id = await publish(state, tenant, chain(query))
    run, _ = await state.control.start_run(tenant.id, "test", workflow_id)
    deadline = asyncio.get_running_loop().time() + 30
    while not await statement_running(sql_database):
        assert asyncio.get_running_loop().time() < deadline, "the statement never started"
        await asyncio.sleep(0.05)
    owner = (await load(state, tenant.id, run.id)).run.lease_owner
    assert owner is not None
    victim = next(p for p in replace_workers.procs if p.pid == int(owner.split(":")[1]))
    await stop_worker(replace_workers, victim, signal.SIGKILL)
    done = await wait_for(state, tenant.id, run.id, timeout=60)
    assert done.run.status.value == "SUCCEEDED", done.steps["q"].error
    assert done.steps["q"].interruptions == 1
    if read_only:
        assert done.steps["q"].output["rows"] == [{"n": 2}]
    else:
        assert done.steps["q"].output["rows"] == [{"name": "once"}]
        conn = await asyncpg.connect(server_url(sql_database))
        try:
            assert await conn.fetchval("SELECT count(*) FROM items WHERE name = 'once'") == 1
        finally:
            await conn.close()


async def test_a_statement_is_a_client_span_of_its_step_naming_its_keyword_not_its_text(
    state: AppState, tenant: TenantFixture, sql_database: str, workers: Workers, exporter: InMemorySpanExporter
) -> None:
    await pg_credential(state, tenant, sql_database)
    query = node("query", "sql.query", credential="db", sql="SELECT name FROM items WHERE name = 'sql-text-canary'")
    finished = await run_once(state, tenant, chain(query))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["query"].error
    assert finished.run.traceparent is not None
    spans = await spans_of(finished.run.traceparent.split("-")[1], exporter, workers, want_steps=2)
    statement = one(spans, "SQL SELECT")
    assert statement["parent_id"] == one(spans, "step query")["span_id"] and statement["kind"] == "client"
    assert statement["attributes"]["db.system.name"] == "postgresql"
    assert statement["attributes"]["db.response.returned_rows"] == 0
    assert "sql-text-canary" not in json.dumps(spans) and PASSWORD not in json.dumps(spans)
