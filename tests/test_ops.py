"""Deployment artefacts: docker-compose.yml, the Dockerfile and the CLI they call agree with each other."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
import typer.main
import yaml
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.ext.asyncio import create_async_engine

from studio_gql.cli import cli
from studio_shared.db import models
from studio_shared.db.migrate import upgrade
from studio_shared.rbac import Role
from tests.conftest import POSTGRES_ADMIN_URL, REPO, SERVICES, _postgres_admin, missing_service

STUDIO_SERVICES = {"migrate", "api", "worker", "scheduler"}


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return loaded


def test_compose_has_every_service() -> None:
    services = _compose()["services"]
    assert {"postgres", "redis", "minio"} | STUDIO_SERVICES <= set(services)


def test_every_studio_service_runs_an_existing_cli_command() -> None:
    commands = set(typer.main.get_command(cli).commands)  # type: ignore[attr-defined]
    for name in STUDIO_SERVICES:
        command = _compose()["services"][name]["command"]
        assert command[0] == "studio", name
        assert command[1] in commands, f"{name} runs 'studio {command[1]}', which the CLI does not have"


def test_studio_services_are_production_configured() -> None:
    env = _compose()["services"]["api"]["environment"]
    assert env["STUDIO_ENV"] == "production"
    assert env["STUDIO_DATABASE_URL"].startswith("postgresql+asyncpg://")
    assert env["STUDIO_REDIS_URL"].startswith("redis://")
    # Secrets come from the operator's environment, never from the file.
    assert env["STUDIO_JWT_SECRET"].startswith("${") and env["STUDIO_SECRET_KEY"].startswith("${")


# What an operator's .env must hold (deploy/env.example): every credential, none with a default in the file.
REQUIRED = {
    "STUDIO_JWT_SECRET": "j" * 40,
    "STUDIO_SECRET_KEY": "k" * 40,
    "POSTGRES_PASSWORD": "pg-admin-secret",
    "STUDIO_DB_PASSWORD": "db-app-secret",
    "STUDIO_DB_OWNER_PASSWORD": "db-owner-secret",
    "MINIO_ROOT_USER": "minio-user",
    "MINIO_ROOT_PASSWORD": "minio-root-secret",
}


def _compose_config(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("docker-compose")
    if tool is None:
        missing_service("docker-compose", "apt-get install -y --no-install-recommends docker-compose")
    return subprocess.run(  # noqa: S603 - fixed argv, our own file
        [tool, "-f", str(REPO / "docker-compose.yml"), "config", *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )


def test_docker_compose_validates_the_file() -> None:
    result = _compose_config(REQUIRED, "-q")
    assert result.returncode == 0, result.stderr
    with_tls = _compose_config({**REQUIRED, "COMPOSE_PROFILES": "tls"}, "--services")
    assert "caddy" in with_tls.stdout.split(), with_tls.stderr


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_compose_refuses_to_start_without_each_credential(name: str) -> None:
    """No default credentials: a missing one stops compose with a message naming it."""
    result = _compose_config({k: v for k, v in REQUIRED.items() if k != name}, "-q")
    assert result.returncode != 0 and f"set {name}" in result.stderr, result.stderr


def test_compose_pins_every_image_and_publishes_only_the_api_and_the_proxy() -> None:
    resolved = yaml.safe_load(_compose_config(REQUIRED).stdout)["services"]
    for name, service in resolved.items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag != "latest", f"{name}: {image} is not pinned"
        assert re.match(r"(\d+\.\d+|RELEASE\.\d{4}-\d\d-\d\d)", tag), f"{name}: {image} names no minor version"
    published = {name for name, service in resolved.items() if service.get("ports")}
    assert published == {"api", "caddy"}, "PostgreSQL, Redis and MinIO (and its console) stay inside the network"
    assert resolved["api"]["ports"][0].startswith("127.0.0.1:"), "plain HTTP on this machine only, by default"
    assert resolved["minio"]["environment"]["MINIO_BROWSER"] == "off"
    assert resolved["migrate"]["environment"]["STUDIO_S3_CREATE_BUCKET"] == "true"
    for name in ("worker", "scheduler"):
        assert resolved[name]["healthcheck"]["test"] == ["CMD", "studio", name, "--check"]


def test_the_caddyfile_proxies_to_the_api_service() -> None:
    caddyfile = (REPO / "deploy" / "Caddyfile").read_text()
    compose = _compose()["services"]
    assert "reverse_proxy api:8000" in caddyfile
    assert compose["api"]["command"][-1] == "8000"
    assert "./deploy/Caddyfile:/etc/caddy/Caddyfile:ro" in compose["caddy"]["volumes"]
    env_example = (REPO / "deploy" / "env.example").read_text()
    for name in REQUIRED:
        assert f"{name}=" in env_example, f"deploy/env.example lists {name}"


def test_dockerfile_copies_paths_that_exist() -> None:
    """Every COPY from the build context names a path of the repository; one from a stage names a stage."""
    lines = (REPO / "Dockerfile").read_text().splitlines()
    stages = {line.split()[-1] for line in lines if line.startswith("FROM ") and " AS " in line}
    assert stages == {"frontend"}, "the web app is built in its own stage"
    for line in lines:
        if line.startswith("COPY "):
            words = line.split()[1:-1]
            stage = next((w.removeprefix("--from=") for w in words if w.startswith("--from=")), None)
            if stage is not None:
                assert stage in stages, f"Dockerfile copies from an unknown stage {stage}"
                continue
            for source in words:
                assert (REPO / source).exists(), f"Dockerfile copies missing {source}"


@pytest.mark.skipif(not SERVICES, reason="PostgreSQL roles: the postgres pass runs it")
def test_the_compose_database_roles_keep_row_level_security_in_force() -> None:
    """deploy/postgres/init-roles.sh, run as the postgres image runs it, against this machine's PostgreSQL:
    migrations run as the owner, and the app role is ordinary (no DDL, not a superuser), so the tenant policies
    hold for it."""
    suffix = secrets.token_hex(4)
    owner, app, database = f"studio_owner_{suffix}", f"studio_app_{suffix}", f"studio_roles_{suffix}"
    admin = urlsplit(POSTGRES_ADMIN_URL)
    env = {
        **os.environ,
        "PGHOST": admin.hostname or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
        "STUDIO_DB_OWNER": owner,
        "STUDIO_DB_USER": app,
        "STUDIO_DB_NAME": database,
    }
    if shutil.which("psql") is None:
        missing_service("psql", "apt-get install -y postgresql-client")
    script = REPO / "deploy" / "postgres" / "init-roles.sh"
    ran = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True)  # noqa: S603, S607
    assert ran.returncode == 0, ran.stderr
    base = f"postgresql+asyncpg://{{}}@{env['PGHOST']}:{env['PGPORT']}/{database}"
    try:
        upgrade(base.format(owner))
        asyncio.run(_as_app(base.format(owner), base.format(app)))
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        asyncio.run(_postgres_admin(f'DROP ROLE IF EXISTS "{app}"; DROP ROLE IF EXISTS "{owner}"'))


async def _as_app(owner_url: str, app_url: str) -> None:
    owner, app = create_async_engine(owner_url), create_async_engine(app_url)
    try:
        async with owner.begin() as conn:  # two tenants' users, written as a worker would (no tenant declared)
            ids = [uuid.uuid4(), uuid.uuid4()]
            for tenant_id in ids:
                await conn.execute(
                    sa.insert(models.Tenant.__table__).values(id=tenant_id, slug=f"t-{tenant_id.hex[:8]}", name="t")
                )
                await conn.execute(
                    sa.insert(models.User.__table__).values(
                        id=uuid.uuid4(),
                        tenant_id=tenant_id,
                        email=f"u@{tenant_id.hex[:8]}.example",
                        password_hash="x",
                        role=Role.VIEWER,
                    )
                )
        async with app.begin() as conn:
            assert not await conn.scalar(
                sa.text("SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user")
            )
            assert await conn.scalar(sa.text("SELECT count(*) FROM users")) == 2, "no tenant declared: every row"
            await conn.execute(sa.text("SELECT set_config('studio.tenant_id', :t, true)"), {"t": str(ids[0])})
            assert await conn.scalar(sa.text("SELECT count(*) FROM users")) == 1, "one tenant declared: its rows only"
        with pytest.raises(ProgrammingError, match="permission denied"):
            async with app.begin() as conn:
                await conn.execute(sa.text("CREATE TABLE intruder (id int)"))
        with pytest.raises(ProgrammingError, match="must be owner"):
            async with app.begin() as conn:
                await conn.execute(sa.text("ALTER TABLE users NO FORCE ROW LEVEL SECURITY"))
    finally:
        await owner.dispose()
        await app.dispose()
