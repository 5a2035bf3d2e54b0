"""The `studio` command as a user runs it: a real subprocess against a fresh SQLite database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jwt

from tests.conftest import REPO


def _studio(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STUDIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "STUDIO_STATE_DIR": str(tmp_path / "state"),
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
    result = _studio(tmp_path, "token", "--tenant", "acme", "--role", "EDITOR", "--user", "ed@acme.example")
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


def test_token_refuses_an_email_of_another_tenant(tmp_path: Path) -> None:
    assert _studio(tmp_path, "token", "--tenant", "one", "--role", "ADMIN", "--user", "x@example.org").returncode == 0
    clash = _studio(tmp_path, "token", "--tenant", "two", "--role", "ADMIN", "--user", "x@example.org")
    assert clash.returncode == 2
    assert "another tenant" in clash.stderr


def test_token_rejects_bad_arguments(tmp_path: Path) -> None:
    assert _studio(tmp_path, "token", "--tenant", "Not A Slug", "--role", "ADMIN").returncode == 2
    assert _studio(tmp_path, "token", "--tenant", "ok", "--role", "KING").returncode == 2


def test_demo_is_idempotent_and_says_how_to_log_in(tmp_path: Path) -> None:
    first = _studio(tmp_path, "demo")
    assert first.returncode == 0, first.stderr
    password = (tmp_path / "state" / "demo_admin_password").read_text().strip()
    assert password in first.stdout and "admin@demo.local" in first.stdout
    second = _studio(tmp_path, "demo")
    assert second.returncode == 0 and password in second.stdout


def test_export_schema_matches_the_committed_sdl(tmp_path: Path) -> None:
    result = _studio(tmp_path, "export-schema")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (REPO / "schema.graphql").read_text(), "run 'make schema' and commit schema.graphql"


def test_worker_without_redis_says_how_to_fix_it(tmp_path: Path) -> None:
    result = _studio(tmp_path, "worker")
    assert result.returncode == 2
    assert "needs STUDIO_REDIS_URL" in result.stderr


def test_unbuilt_scheduler_says_so_and_fails(tmp_path: Path) -> None:
    result = _studio(tmp_path, "scheduler")
    assert result.returncode == 2
    assert "not part of this build" in result.stderr
