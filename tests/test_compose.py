"""docker-compose.yml brought up without Docker: every studio service's exact command and environment, as
``docker-compose config`` resolves them, run as local processes against this machine's PostgreSQL, a Redis server of
the test's own and moto's S3 server standing in for MinIO. Only host names and ports are rewritten (``postgres:5432``
to the local server, ``redis:6379`` and ``minio:9000`` to the test's servers, the API's port 8000 to a free one).

What it proves: the services start in the file's order with the file's settings; the init step creates the bucket;
every healthcheck the file declares for a studio service passes against the running process (and the worker's and
scheduler's fail when their process is gone or absent); a run goes through the API, a worker and the bucket;
``studio create-admin`` gives an admin who can sign in. What it cannot: the image itself (its build, its user, its
paths), Docker's networking and DNS, MinIO's own behaviour (moto stands in), Caddy and TLS, the postgres image's
entrypoint (the init script runs as the entrypoint would run it), restart policies and replicas as Docker runs them.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
import yaml
from moto.server import ThreadedMotoServer

from tests.conftest import POSTGRES_ADMIN_URL, REPO, SERVICES, _postgres_admin, missing_service

pytestmark = pytest.mark.skipif(not SERVICES, reason="PostgreSQL and Redis: the postgres pass runs it")

STARTUP_S = 60.0  # the most any service may take to pass its healthcheck on a loaded machine
STUDIO_SERVICES = ("migrate", "api", "worker", "scheduler")
ADMIN_EMAIL = "admin@acme.example"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def operator_env(suffix: str) -> dict[str, str]:
    """What an operator's .env holds (deploy/env.example), with names of this run's own on the shared server."""
    return {
        "STUDIO_JWT_SECRET": secrets.token_urlsafe(48),
        "STUDIO_SECRET_KEY": secrets.token_urlsafe(48),
        "POSTGRES_PASSWORD": secrets.token_urlsafe(16),
        "STUDIO_DB_PASSWORD": secrets.token_urlsafe(16),
        "STUDIO_DB_OWNER_PASSWORD": secrets.token_urlsafe(16),
        "MINIO_ROOT_USER": "studio",
        "MINIO_ROOT_PASSWORD": secrets.token_urlsafe(16),
        "STUDIO_DB_NAME": f"studio_compose_{suffix}",
        "STUDIO_DB_USER": f"studio_compose_app_{suffix}",
        "STUDIO_DB_OWNER": f"studio_compose_owner_{suffix}",
    }


def resolved_compose(env: dict[str, str]) -> dict[str, Any]:
    """The file as Docker would run it: ``docker-compose config`` (anchors merged, variables interpolated)."""
    tool = shutil.which("docker-compose")
    if tool is None:
        missing_service("docker-compose", "apt-get install -y --no-install-recommends docker-compose")
    result = subprocess.run(  # noqa: S603 - fixed argv, our own file
        [tool, "-f", str(REPO / "docker-compose.yml"), "config"],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = yaml.safe_load(result.stdout)
    return loaded


@dataclass
class Rewrite:
    """Docker's service names and ports to this machine's addresses: the only change made to the file."""

    hosts: dict[str, str]  # "postgres:5432" -> "127.0.0.1:5432"
    api_port: int

    def text(self, value: str) -> str:
        for inside, outside in self.hosts.items():
            value = re.sub(rf"(?<=[/@]){re.escape(inside)}(?=[/]|$)", outside, value)
        return value.replace("127.0.0.1:8000", f"127.0.0.1:{self.api_port}")

    def command(self, argv: list[str]) -> list[str]:
        out = [self.text(str(word)) for word in argv]
        for flag, value in (("--port", str(self.api_port)), ("--host", "127.0.0.1")):
            if flag in out:
                out[out.index(flag) + 1] = value
        return out

    def environment(self, env: dict[str, Any]) -> dict[str, str]:
        return {name: self.text(str(value)) for name, value in env.items()}


class Stack:
    """The studio services of the resolved file as local processes, with what a container has besides: PATH (to
    the installed ``studio`` and ``python``), a home and a working directory of their own."""

    def __init__(self, compose: dict[str, Any], rewrite: Rewrite, workdir: Path) -> None:
        self.services: dict[str, Any] = compose["services"]
        self.rewrite, self.workdir = rewrite, workdir
        self.procs: dict[str, list[subprocess.Popen[bytes]]] = {}

    def env(self, service: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
            "HOME": str(self.workdir),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            **self.rewrite.environment(self.services[service].get("environment", {})),
            **(extra or {}),
        }

    def command(self, service: str) -> list[str]:
        return self.rewrite.command(self.services[service]["command"])

    def run(
        self, service: str, argv: list[str] | None = None, stdin: str | None = None, extra: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """A one-shot in the service's container: its command, or ``argv`` (``docker compose run``/``exec``)."""
        return subprocess.run(  # noqa: S603 - the file's own commands
            argv or self.command(service),
            env=self.env(service, extra),
            cwd=self.workdir,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=STARTUP_S,
            check=False,
        )

    def start(self, service: str) -> subprocess.Popen[bytes]:
        index = len(self.procs.setdefault(service, []))
        with (self.workdir / f"{service}-{index}.log").open("wb") as log:
            proc = subprocess.Popen(  # noqa: S603 - the file's own commands
                self.command(service), env=self.env(service), cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT
            )
        self.procs[service].append(proc)
        return proc

    def healthcheck(self, service: str) -> subprocess.CompletedProcess[str]:
        """The service's healthcheck ``test``, run as Docker runs it: inside the container, with its environment."""
        test = self.services[service]["healthcheck"]["test"]
        assert test[0] == "CMD", f"{service}: a healthcheck in exec form, not {test[0]}"
        return self.run(service, self.rewrite.command(test[1:]))

    def wait_healthy(self, service: str) -> subprocess.CompletedProcess[str]:
        """Run the healthcheck until it passes (as Docker does after start_period), failing on a dead process."""
        deadline = time.monotonic() + STARTUP_S
        while True:
            for proc in self.procs.get(service, []):
                assert proc.poll() is None, f"{service} exited {proc.returncode}:\n{self.log(service)}"
            result = self.healthcheck(service)
            if result.returncode == 0 or time.monotonic() > deadline:
                return result
            time.sleep(0.5)

    def log(self, service: str) -> str:
        return "\n".join(path.read_text()[-3000:] for path in sorted(self.workdir.glob(f"{service}-*.log")))

    def stop(self) -> None:
        procs = [proc for group in self.procs.values() for proc in group]
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[int]:
    """A Redis server of the test's own, standing in for the ``redis`` service (no database shared with others)."""
    binary = shutil.which("redis-server")
    if binary is None:
        missing_service("redis-server", "apt-get install -y redis-server")
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603 - fixed argv
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while True:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
        time.sleep(0.05)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def moto_port() -> Iterator[int]:
    """moto's S3 server, standing in for the ``minio`` service; it accepts the file's credentials."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        yield server.get_host_and_port()[1]
    finally:
        server.stop()


@pytest.fixture
def operator() -> Iterator[dict[str, str]]:
    env = operator_env(secrets.token_hex(4))
    try:
        yield env
    finally:
        asyncio.run(_postgres_admin(f'DROP DATABASE IF EXISTS "{env["STUDIO_DB_NAME"]}" WITH (FORCE)'))
        asyncio.run(
            _postgres_admin(
                f'DROP ROLE IF EXISTS "{env["STUDIO_DB_USER"]}"; DROP ROLE IF EXISTS "{env["STUDIO_DB_OWNER"]}"'
            )
        )


def init_postgres(compose: dict[str, Any]) -> None:
    """What the postgres image does on an empty data directory: run deploy/postgres/init-roles.sh (mounted into
    /docker-entrypoint-initdb.d) with the service's environment, as the superuser."""
    if shutil.which("psql") is None:
        missing_service("psql", "apt-get install -y postgresql-client")
    admin = urlsplit(POSTGRES_ADMIN_URL)
    service = compose["services"]["postgres"]
    mounted = {v["source"] if isinstance(v, dict) else v.split(":")[0] for v in service["volumes"]}
    script = REPO / "deploy" / "postgres" / "init-roles.sh"
    assert str(script) in mounted, "the postgres service runs deploy/postgres/init-roles.sh"
    env = {
        "PATH": os.environ["PATH"],
        **{name: str(value) for name, value in service["environment"].items()},
        "PGHOST": admin.hostname or "127.0.0.1",
        "PGPORT": str(admin.port or 5432),
        "POSTGRES_USER": admin.username or "postgres",
    }
    ran = subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, check=False)  # noqa: S603, S607
    assert ran.returncode == 0, ran.stderr


async def graphql(client: httpx.AsyncClient, query: str, token: str | None = None, **variables: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def run_through_the_stack(base_url: str, password: str) -> str:
    """Sign in as the admin create-admin made, publish a workflow that writes an artifact, run it to the end."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        login = (
            await graphql(
                client,
                "mutation($e: String!, $p: String!) { login(email: $e, password: $p) { token errors { message } } }",
                e=ADMIN_EMAIL,
                p=password,
            )
        )["login"]
        assert login["errors"] == [] and login["token"], login
        token = login["token"]
        me = (await graphql(client, "{ me { role tenant { slug } } }", token))["me"]
        assert me == {"role": "ADMIN", "tenant": {"slug": "acme"}}
        definition = {
            "nodes": [
                {"id": "start", "type": "trigger.manual", "config": {}},
                {"id": "write", "type": "artifact.write", "config": {"name": "hello.txt", "content": "from compose"}},
            ],
            "edges": [{"source": "start", "target": "write"}],
        }
        created = (
            await graphql(
                client,
                'mutation($d: JSON!) { createWorkflow(input: {name: "compose", definition: $d}) '
                "{ workflow { id } errors { message } } }",
                token,
                d=definition,
            )
        )["createWorkflow"]
        assert created["errors"] == [], created
        workflow_id = created["workflow"]["id"]
        published = await graphql(
            client, "mutation($id: ID!) { publishWorkflow(id: $id) { errors { message } } }", token, id=workflow_id
        )
        assert published["publishWorkflow"]["errors"] == [], published
        started = (
            await graphql(
                client,
                "mutation($id: ID!) { startRun(workflowId: $id) { run { id } errors { message } } }",
                token,
                id=workflow_id,
            )
        )["startRun"]
        assert started["errors"] == [], started
        run_id = started["run"]["id"]
        deadline = time.monotonic() + STARTUP_S
        while True:
            run = (await graphql(client, "query($id: ID!) { run(id: $id) { status error } }", token, id=run_id))["run"]
            if run["status"] in ("SUCCEEDED", "FAILED", "CANCELLED") or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert run["status"] == "SUCCEEDED", run
        status: str = run["status"]
        return status


def test_the_compose_stack_comes_up(operator: dict[str, str], redis_port: int, moto_port: int, tmp_path: Path) -> None:
    compose = resolved_compose(operator)
    services = compose["services"]
    admin = urlsplit(POSTGRES_ADMIN_URL)
    rewrite = Rewrite(
        hosts={
            "postgres:5432": f"{admin.hostname or '127.0.0.1'}:{admin.port or 5432}",
            "redis:6379": f"127.0.0.1:{redis_port}",
            # A name, as `minio` is: an S3 client that would address the bucket as a host name fails here too.
            "minio:9000": f"localhost:{moto_port}",
        },
        api_port=free_port(),
    )
    stack = Stack(compose, rewrite, tmp_path)
    bucket = urlsplit(services["api"]["environment"]["STUDIO_STORAGE_URL"]).hostname
    s3 = boto3.client(
        "s3",
        endpoint_url=f"http://127.0.0.1:{moto_port}",
        region_name="us-east-1",
        aws_access_key_id="moto",
        aws_secret_access_key="moto",
    )
    try:
        init_postgres(compose)
        assert bucket not in {b["Name"] for b in s3.list_buckets()["Buckets"]}

        # The one-shot: database upgraded as the owner, and the bucket created (again: nothing to do).
        for expected in ("created", "already exists"):
            migrated = stack.run("migrate")
            assert migrated.returncode == 0, migrated.stderr
            assert f"S3 bucket {bucket!r} {expected}" in migrated.stdout
        s3.head_bucket(Bucket=bucket)

        # No scheduler yet: its healthcheck fails, saying why.
        absent = stack.healthcheck("scheduler")
        assert absent.returncode == 1 and "no scheduler" in absent.stderr, absent

        stack.start("api")
        for _ in range(services["worker"]["deploy"]["replicas"]):
            stack.start("worker")
        stack.start("scheduler")
        for service in ("api", "worker", "scheduler"):
            result = stack.wait_healthy(service)
            assert result.returncode == 0, f"{service}: {result.stdout}{result.stderr}\n{stack.log(service)}"
        replicas = services["worker"]["deploy"]["replicas"]
        deadline = time.monotonic() + STARTUP_S
        while (workers := stack.healthcheck("worker").stdout).count(": ok, heartbeat") < replicas:
            assert time.monotonic() < deadline, f"every replica beats: {workers}"
            time.sleep(0.5)

        # The first admin, password on stdin as `docker compose exec -T api studio create-admin …` gives it.
        password = secrets.token_urlsafe(12)
        argv = ["studio", "create-admin", "--tenant", "acme", "--email", ADMIN_EMAIL, "--create-tenant"]
        made = stack.run("api", argv, stdin=password + "\n")
        assert made.returncode == 0, made.stderr
        assert password not in made.stdout + made.stderr
        again = stack.run("api", argv[:-1], extra={"STUDIO_ADMIN_PASSWORD": password})
        assert again.returncode == 0 and "nothing to do" in again.stdout, again

        assert asyncio.run(run_through_the_stack(f"http://127.0.0.1:{rewrite.api_port}", password)) == "SUCCEEDED"
        objects = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
        assert [o["Key"] for o in objects if o["Key"].endswith("hello.txt")], "the artifact is in the bucket"

        # A scheduler that dies: its healthcheck fails at once (its heartbeat names a process that is gone).
        scheduler = stack.procs["scheduler"][0]
        scheduler.kill()
        scheduler.wait()
        dead = stack.healthcheck("scheduler")
        assert dead.returncode == 1 and "its process is gone" in dead.stderr, dead
    finally:
        stack.stop()
