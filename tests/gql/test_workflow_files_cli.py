"""`studio workflows export` and `studio workflows import` as a user runs them (typer's CliRunner): on this session's
PostgreSQL database in the postgres pass, on a SQLite file of the test's own in the sqlite pass. (The runner runs in
the test's thread while the session's event loop waits: on the session's SQLite file, a write transaction that loop
had open would hold the database's one write lock until the command gave up.)"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner, Result

from studio_gql.cli import cli
from studio_shared.settings import Settings
from tests.conftest import TEST_JWT_SECRET, TEST_SECRET_KEY

Studio = Callable[..., Result]


@pytest.fixture
def studio(settings: Settings, tmp_path: Path) -> Studio:
    own_sqlite = settings.database_url.startswith("sqlite")
    env = {
        "STUDIO_ENV": "test",
        "STUDIO_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}" if own_sqlite else settings.database_url,
        "STUDIO_STATE_DIR": str(tmp_path / "state") if own_sqlite else str(settings.state_dir),
        "STUDIO_JWT_SECRET": TEST_JWT_SECRET,
        "STUDIO_SECRET_KEY": TEST_SECRET_KEY,
        "STUDIO_REDIS_URL": "",
    }
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    if own_sqlite:
        migrated = run("migrate")
        assert migrated.exit_code == 0, migrated.output
    return run


def _tenant(studio: Studio) -> str:
    slug = f"cli-{secrets.token_hex(4)}"
    result = studio("token", "--tenant", slug, "--create-tenant", "--role", "ADMIN")
    assert result.exit_code == 0, result.output
    return slug


HELLO = {
    "format": "studio-workflow/1",
    "name": "Hello from git",
    "note": "first",
    "triggers": {"schedules": [{"cron": "0 6 * * *"}], "webhooks": [{"auth": "STANDARD"}]},
    "definition": {
        "nodes": [
            {"id": "start", "type": "trigger.manual", "config": {}},
            {"id": "greet", "type": "transform", "config": {"value": "hi\nthere"}},
        ],
        "edges": [{"source": "start", "target": "greet"}],
    },
    "layout": {"nodes": {"start": {"x": 0, "y": 0}, "greet": {"x": 200, "y": 0}}},
}


def test_import_export_round_trip_through_the_command(studio: Studio, tmp_path: Path) -> None:
    run = studio
    slug = _tenant(run)
    src = tmp_path / "src"
    src.mkdir()
    (src / "hello.yaml").write_text(yaml.safe_dump(HELLO))
    (src / "README.md").write_text("not a workflow file: ignored")

    plan = run("workflows", "import", "--tenant", slug, "--dir", str(src), "--publish", "--dry-run")
    assert plan.exit_code == 0, plan.output
    assert "created   hello.yaml  'Hello from git' (published version 1)" in plan.output
    assert "dry run, nothing written: would be 1 created, 0 updated, 0 unchanged" in plan.output
    empty = run("workflows", "export", "--tenant", slug, "--dir", str(tmp_path / "empty"))
    assert "0 workflows exported" in empty.output, "the dry run wrote nothing"

    applied = run("workflows", "import", "--tenant", slug, "--dir", str(src), "--publish")
    assert applied.exit_code == 0, applied.output
    assert "applied: 1 created, 0 updated, 0 unchanged" in applied.output
    assert "rotateWebhookSecret" in applied.output

    out = tmp_path / "out"
    url = "http://127.0.0.1:8000/schemas/workflow-file.schema.json"
    exported = run("workflows", "export", "--tenant", slug, "--dir", str(out), "--schema-url", url)
    assert exported.exit_code == 0, exported.output
    text = (out / "hello_from_git.yaml").read_text()
    assert text.startswith(f"# yaml-language-server: $schema={url}\n")
    assert "      value: |-\n        hi\n        there\n" in text
    assert text.endswith("layout:\n  nodes:\n    start: {x: 0, y: 0}\n    greet: {x: 200, y: 0}\n"), "layout comes last"

    again = run("workflows", "import", "--tenant", slug, "--dir", str(out), "--publish")
    assert "applied: 0 created, 0 updated, 1 unchanged" in again.output
    second = run("workflows", "export", "--tenant", slug, "--dir", str(tmp_path / "out2"), "--schema-url", url)
    assert second.exit_code == 0
    assert (tmp_path / "out2" / "hello_from_git.yaml").read_bytes() == (out / "hello_from_git.yaml").read_bytes()


def test_problems_name_file_and_path_and_nothing_applies(studio: Studio, tmp_path: Path) -> None:
    run = studio
    slug = _tenant(run)
    (tmp_path / "good.yaml").write_text(yaml.safe_dump(HELLO))
    bad = yaml.safe_load(yaml.safe_dump(HELLO)) | {"name": "Bad"}
    bad["definition"]["nodes"][1]["type"] = "no.such.type"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(bad))
    (tmp_path / "bomb.yml").write_text("a: &a [1, 2]\nb: [*a, *a]\n")
    result = run("workflows", "import", "--tenant", slug, "--dir", str(tmp_path), "--publish")
    assert result.exit_code == 1, result.output
    assert "error   bad.yaml: definition.nodes[1].type: unknown node type 'no.such.type'" in result.output
    assert "error   bomb.yml: <file>: YAML anchors and aliases" in result.output
    assert "nothing applied: 2 of 3 files have problems" in result.output
    exported = run("workflows", "export", "--tenant", slug, "--dir", str(tmp_path / "out"))
    assert "0 workflows exported" in exported.output


def test_unknown_tenant_and_missing_directory_are_usage_errors(studio: Studio, tmp_path: Path) -> None:
    run = studio
    missing = run("workflows", "export", "--tenant", "no-such-tenant-here", "--dir", str(tmp_path))
    assert missing.exit_code == 2 and "no tenant has the slug 'no-such-tenant-here'" in missing.output
    assert "--create-tenant" not in missing.output
    slug = _tenant(run)
    nodir = run("workflows", "import", "--tenant", slug, "--dir", str(tmp_path / "nope"))
    assert nodir.exit_code == 2 and "is not a directory" in nodir.output
    nofiles = run("workflows", "import", "--tenant", slug, "--dir", str(tmp_path))
    assert nofiles.exit_code == 2 and "no *.yaml or *.yml files" in nofiles.output
