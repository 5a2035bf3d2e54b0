"""`studio create-admin` as an operator runs it: a real subprocess against a fresh SQLite database, the password on
stdin or in STUDIO_ADMIN_PASSWORD, never in argv. (tests/test_compose.py signs in with such an admin.)"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa

from studio_shared.auth import verify_password
from studio_shared.db import create_engine
from studio_shared.settings import Settings
from tests.conftest import REPO

EMAIL = "ops@acme.example"
PASSWORD = "a long enough passphrase"
ADMIN = ("create-admin", "--tenant", "acme", "--email", EMAIL)


def studio(tmp_path: Path, *args: str, stdin: str = "", **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "STUDIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
        "STUDIO_STATE_DIR": str(tmp_path / "state"),
        **extra_env,
    }
    if "STUDIO_ADMIN_PASSWORD" not in extra_env:
        env.pop("STUDIO_ADMIN_PASSWORD", None)
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-c", "from studio_gql.cli import main; main()", *args],
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )


def users(tmp_path: Path) -> dict[str, tuple[str, bool, str | None]]:
    """email -> (role, active, password hash) of every user."""

    async def read() -> dict[str, tuple[str, bool, str | None]]:
        engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT email, role, active, password_hash FROM users"))
                return {row[0]: (row[1], bool(row[2]), row[3]) for row in rows}
        finally:
            await engine.dispose()

    return asyncio.run(read())


def audit_actions(tmp_path: Path) -> list[tuple[str, str]]:
    async def read() -> list[tuple[str, str]]:
        engine = create_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"))
        try:
            async with engine.connect() as conn:
                rows = await conn.execute(sa.text("SELECT actor, action FROM audit_log ORDER BY at"))
                return [(row[0], row[1]) for row in rows]
        finally:
            await engine.dispose()

    return asyncio.run(read())


def test_creates_an_admin_of_a_new_tenant_from_stdin_and_again_changes_nothing(tmp_path: Path) -> None:
    made = studio(tmp_path, *ADMIN, "--create-tenant", stdin=PASSWORD + "\n")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"created the admin {EMAIL} of the tenant 'acme'"
    role, active, hashed = users(tmp_path)[EMAIL]
    assert (role, active) == ("ADMIN", True)
    assert verify_password(hashed, PASSWORD), "the password is the one given, without the line's newline"
    assert ("cli", "user.create") in audit_actions(tmp_path)
    again = studio(tmp_path, *ADMIN, STUDIO_ADMIN_PASSWORD=PASSWORD)
    assert again.returncode == 0 and "nothing to do" in again.stdout, again
    assert PASSWORD not in made.stdout + made.stderr + again.stdout + again.stderr


def test_an_unknown_tenant_is_named_with_the_known_ones_and_nothing_is_made(tmp_path: Path) -> None:
    assert studio(tmp_path, *ADMIN, "--create-tenant", stdin=PASSWORD).returncode == 0
    refused = studio(tmp_path, "create-admin", "--tenant", "acmee", "--email", "b@acme.example", stdin=PASSWORD)
    assert refused.returncode == 2
    assert "no tenant has the slug 'acmee'" in refused.stderr and "Did you mean 'acme'?" in refused.stderr
    assert "--create-tenant" in refused.stderr
    assert set(users(tmp_path)) == {EMAIL}


def test_the_password_policy_applies_and_a_missing_password_says_where_to_put_it(tmp_path: Path) -> None:
    short = studio(tmp_path, *ADMIN, "--create-tenant", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr, short
    missing = studio(tmp_path, *ADMIN, "--create-tenant", stdin="")
    assert missing.returncode == 2 and "STUDIO_ADMIN_PASSWORD" in missing.stderr, missing
    in_argv = studio(tmp_path, *ADMIN, "--create-tenant", "--password", PASSWORD)
    assert in_argv.returncode == 2 and "No such option" in in_argv.stderr, "argv never carries the password"
    assert users(tmp_path) == {}


def test_an_existing_user_needs_reset_password_which_makes_it_an_active_admin(tmp_path: Path) -> None:
    viewer = studio(tmp_path, "token", "--tenant", "acme", "--create-tenant", "--role", "VIEWER", "--user", EMAIL)
    assert viewer.returncode == 0, viewer.stderr
    refused = studio(tmp_path, *ADMIN, stdin=PASSWORD)
    assert refused.returncode == 2
    assert f"already has a user {EMAIL} (VIEWER)" in refused.stderr and "--reset-password" in refused.stderr
    assert users(tmp_path)[EMAIL][0] == "VIEWER", "nothing changed"
    reset = studio(tmp_path, *ADMIN, "--reset-password", STUDIO_ADMIN_PASSWORD=PASSWORD)
    assert reset.returncode == 0, reset.stderr
    role, active, hashed = users(tmp_path)[EMAIL]
    assert (role, active) == ("ADMIN", True) and verify_password(hashed, PASSWORD)
    assert {("cli", "user.password_reset"), ("cli", "user.set_role")} <= set(audit_actions(tmp_path))
    other = studio(tmp_path, *ADMIN, stdin="another long passphrase")
    assert other.returncode == 2 and "--reset-password" in other.stderr, "another password is not a repeat"
    assert verify_password(users(tmp_path)[EMAIL][2], PASSWORD)
