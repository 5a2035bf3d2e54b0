"""The `studio` command as a user runs it: a real subprocess against a fresh SQLite database."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import jwt
import sqlalchemy as sa
from pydantic import SecretStr

from studio_shared.crypto import SecretBox
from studio_shared.db import create_engine
from studio_shared.settings import Settings
from tests.conftest import REPO


def _studio(tmp_path: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STUDIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "STUDIO_STATE_DIR": str(tmp_path / "state"),
        **extra_env,
    }
    env.pop("STUDIO_JWT_SECRET", None)
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-c", "from studio_gql.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )


def test_token_creates_tenant_and_user_and_prints_a_verifiable_token(tmp_path: Path) -> None:
    result = _studio(
        tmp_path, "token", "--tenant", "acme", "--create-tenant", "--role", "EDITOR", "--user", "ed@acme.example"
    )
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip().splitlines()[-1]
    secret = (tmp_path / "state" / "jwt_secret").read_text().strip()
    claims = jwt.decode(token, secret, algorithms=["HS256"], audience="workflow-agent-studio")
    assert claims["role"] == "EDITOR"
    assert {"sub", "tenant_id", "exp", "iat", "iss", "aud"} <= set(claims)
    again = _studio(tmp_path, "token", "--tenant", "acme", "--role", "EDITOR", "--user", "ed@acme.example")
    assert (
        jwt.decode(again.stdout.strip(), secret, algorithms=["HS256"], audience="workflow-agent-studio")["tenant_id"]
        == claims["tenant_id"]
    ), "a second call reuses the tenant"


def test_token_for_an_email_in_two_tenants_is_for_two_users(tmp_path: Path) -> None:
    """Emails are unique per tenant: the same address in another tenant is another user, never a clash."""
    one = _studio(tmp_path, "token", "--tenant", "one", "--create-tenant", "--role", "ADMIN", "--user", "x@example.org")
    two = _studio(
        tmp_path, "token", "--tenant", "two", "--create-tenant", "--role", "VIEWER", "--user", "x@example.org"
    )
    assert one.returncode == two.returncode == 0, (one.stderr, two.stderr)
    claims = [jwt.decode(r.stdout.strip().splitlines()[-1], options={"verify_signature": False}) for r in (one, two)]
    assert claims[0]["tenant_id"] != claims[1]["tenant_id"]
    assert claims[0]["sub"] != claims[1]["sub"]
    assert [c["role"] for c in claims] == ["ADMIN", "VIEWER"]


def test_token_rejects_bad_arguments(tmp_path: Path) -> None:
    assert _studio(tmp_path, "token", "--tenant", "Not A Slug", "--create-tenant", "--role", "ADMIN").returncode == 2
    assert _studio(tmp_path, "token", "--tenant", "ok", "--create-tenant", "--role", "KING").returncode == 2


def _tenant_slugs(tmp_path: Path) -> list[str]:
    async def read() -> list[str]:
        engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
        try:
            async with engine.connect() as conn:
                return list((await conn.execute(sa.text("SELECT slug FROM tenants ORDER BY slug"))).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_token_for_an_unknown_tenant_names_the_known_slugs_and_creates_nothing(tmp_path: Path) -> None:
    assert _studio(tmp_path, "demo").returncode == 0
    for typed, suggested in (("Demo", "'demo'"), ("dem0", "'demo'"), ("staging", None)):
        refused = _studio(tmp_path, "token", "--tenant", typed, "--role", "VIEWER")
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert f"no tenant has the slug {typed!r}" in refused.stderr
        assert "Known tenant slugs: demo." in refused.stderr and "--create-tenant" in refused.stderr
        if suggested:
            assert f"Did you mean {suggested}?" in refused.stderr, refused.stderr
        else:
            assert "Did you mean" not in refused.stderr
    assert _tenant_slugs(tmp_path) == ["demo"], "a typo never makes a tenant"
    known = _studio(tmp_path, "token", "--tenant", "demo", "--role", "VIEWER", "--user", "v@demo.local")
    assert known.returncode == 0, known.stderr
    made = _studio(tmp_path, "token", "--tenant", "staging", "--create-tenant", "--role", "ADMIN")
    assert made.returncode == 0, made.stderr
    assert _tenant_slugs(tmp_path) == ["demo", "staging"]


def test_demo_is_idempotent_and_says_where_and_how_to_sign_in(tmp_path: Path) -> None:
    first = _studio(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    password = (tmp_path / "state" / "demo_admin_password").read_text().strip()
    for shown in ("workspace (tenant slug) 'demo'", "http://127.0.0.1:8000", "admin@demo.local", password):
        assert shown in first.stdout, first.stdout
    assert "studio token --tenant demo" in first.stdout
    second = _studio(tmp_path, "demo")
    assert second.returncode == 0 and second.stdout == first.stdout


def test_demo_does_not_show_a_password_that_was_changed_since(tmp_path: Path) -> None:
    assert _studio(tmp_path, "demo").returncode == 0
    (tmp_path / "state" / "demo_admin_password").write_text("not the password any more")
    again = _studio(tmp_path, "demo")
    assert again.returncode == 0 and "not the password any more" not in again.stdout
    assert "changed since it was generated" in again.stdout


def test_export_schema_matches_the_committed_sdl(tmp_path: Path) -> None:
    result = _studio(tmp_path, "export-schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "schema.graphql").read_text(), "run 'make schema' and commit schema.graphql"


def test_worker_without_redis_says_how_to_fix_it(tmp_path: Path) -> None:
    result = _studio(tmp_path, "worker")
    assert result.returncode == 2
    assert "needs STUDIO_REDIS_URL" in result.stderr


def test_scheduler_without_redis_says_how_to_fix_it(tmp_path: Path) -> None:
    result = _studio(tmp_path, "scheduler")
    assert result.returncode == 2
    assert "needs STUDIO_REDIS_URL" in result.stderr
    assert "`studio serve` runs the scheduler in-process" in result.stderr


def test_rotate_secrets_reencrypts_with_the_newest_key(tmp_path: Path) -> None:
    old, new = "old-key-" + "o" * 40, "new-key-" + "n" * 40
    made = _studio(tmp_path, "token", "--tenant", "acme", "--create-tenant", "--role", "ADMIN", STUDIO_SECRET_KEY=old)
    assert made.returncode == 0, made.stderr
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"

    def box(*keys: str) -> SecretBox:
        return SecretBox.from_settings(Settings(secret_key=SecretStr(",".join(keys))))

    async def sql(statement: str, **params: str) -> list[str]:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.begin() as conn:
                result = await conn.execute(sa.text(statement), params)
                return [row[0] for row in result] if result.returns_rows else []
        finally:
            await engine.dispose()

    [tenant_id] = asyncio.run(sql("SELECT id FROM tenants"))
    asyncio.run(
        sql(
            "INSERT INTO credentials (id, tenant_id, name, kind, value_encrypted, created_at, updated_at) "
            "VALUES ('0f0e0d0c0b0a09080706050403020100', :t, 'c', 'bearer', :v, '2026-01-01', '2026-01-01')",
            t=tenant_id,
            v=box(old).seal({"token": "sekret"}),
        )
    )
    refused = _studio(tmp_path, "rotate-secrets", STUDIO_SECRET_KEY=new)
    assert refused.returncode == 2 and "keep the old key" in refused.stderr
    rotated = _studio(tmp_path, "rotate-secrets", STUDIO_SECRET_KEY=f"{new},{old}")
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted 1 secrets" in rotated.stdout
    [sealed] = asyncio.run(sql("SELECT value_encrypted FROM credentials"))
    assert box(new).open(sealed) == {"token": "sekret"}


def test_migrate_asked_for_a_bucket_without_s3_storage_says_what_to_fix(tmp_path: Path) -> None:
    result = _studio(tmp_path, "migrate", STUDIO_S3_CREATE_BUCKET="true", STUDIO_STORAGE_URL="file://x")
    assert result.returncode == 1
    assert "STUDIO_S3_CREATE_BUCKET is set but STUDIO_STORAGE_URL 'file://x' is not s3://" in result.stderr


def test_worker_and_scheduler_checks_without_redis_say_how_to_fix_it(tmp_path: Path) -> None:
    for command in ("worker", "scheduler"):
        result = _studio(tmp_path, command, "--check")
        assert result.returncode == 2 and "needs STUDIO_REDIS_URL" in result.stderr, result
