"""Deployment artefacts: docker-compose.yml, the Dockerfile and the CLI they call agree with each other."""

from __future__ import annotations

import os
import shutil
import subprocess
from typing import Any

import typer.main
import yaml

from studio_gql.cli import cli
from tests.conftest import REPO, missing_service

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


def test_docker_compose_validates_the_file() -> None:
    tool = shutil.which("docker-compose")
    if tool is None:
        missing_service("docker-compose", "apt-get install -y --no-install-recommends docker-compose")
    env = {**os.environ, "STUDIO_JWT_SECRET": "j" * 40, "STUDIO_SECRET_KEY": "k" * 40}
    result = subprocess.run(  # noqa: S603 - fixed argv, our own file
        [tool, "-f", str(REPO / "docker-compose.yml"), "config", "-q"], env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


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
