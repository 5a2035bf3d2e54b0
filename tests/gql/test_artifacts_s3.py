"""Artifacts on S3 (moto's server speaking the S3 protocol): written by a step, listed, downloaded, deleted."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterator

import aioboto3
import httpx
import pytest
from moto.server import ThreadedMotoServer
from starlette.applications import Starlette

from studio_gql.app import create_app
from studio_gql.state import AppState
from studio_shared.auth import encode_access_token
from studio_shared.db.migrate import upgrade
from studio_shared.rbac import Role
from studio_shared.settings import Settings
from studio_shared.store import tenants
from tests.conftest import GraphQLClient, TenantFixture
from tests.worker.engine_harness import chain, run_once
from tests.worker.test_nodes_io import ARTIFACTS, DELETE_RUN, node

BUCKET = "studio-artifacts"
AWS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    saved = {name: os.environ.get(name) for name in AWS}
    os.environ.update(AWS)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def s3_settings(settings: Settings, moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The embedded studio (its own SQLite database, in-process workers) with artifacts in an S3 bucket."""
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('s3db') / 'studio.db'}"
    upgrade(url)
    return settings.model_copy(
        update={
            "database_url": url,
            "redis_url": None,
            "storage_url": f"s3://{BUCKET}/studio",
            "s3_endpoint_url": moto_endpoint,
            "s3_path_style": True,
            "max_artifact_bytes": 1024 * 1024,
        }
    )


@pytest.fixture(scope="module")
async def s3_app(s3_settings: Settings, moto_endpoint: str) -> AsyncIterator[Starlette]:
    async with aioboto3.Session().client("s3", endpoint_url=moto_endpoint) as admin:
        await admin.create_bucket(Bucket=BUCKET)
    app = create_app(s3_settings)
    async with app.router.lifespan_context(app):
        yield app


async def test_artifacts_live_in_the_bucket_from_write_to_delete(s3_app: Starlette, moto_endpoint: str) -> None:
    state: AppState = s3_app.state.studio
    async with state.sessions.begin() as s:
        tenant = await tenants.get_or_create_tenant(s, "s3-artifacts")
        user = await tenants.create_user(s, tenant.id, "ed@s3.example", None, Role.EDITOR)
    token = encode_access_token(state.settings, subject=user.id, tenant_id=tenant.id, role=Role.EDITOR)
    fixture = TenantFixture(id=tenant.id, slug=tenant.slug, users={Role.ADMIN: user.id, Role.EDITOR: user.id})
    body = "x" * 200_000  # more than one read chunk on the way back
    finished = await run_once(state, fixture, chain(node("write", "artifact.write", name="big.txt", content=body)))
    assert finished.run.status.value == "SUCCEEDED", finished.steps["write"].error

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=s3_app), base_url="http://studio.test") as http:
        gql = GraphQLClient(http)
        [artifact] = (await gql.data(ARTIFACTS, {"id": str(finished.run.id)}, token))["run"]["artifacts"]
        async with aioboto3.Session().client("s3", endpoint_url=moto_endpoint) as admin:
            listed = await admin.list_objects_v2(Bucket=BUCKET, Prefix=f"studio/{tenant.id}/{finished.run.id}/")
            assert [o["Size"] for o in listed["Contents"]] == [200_000]
            download = await http.get(artifact["downloadUrl"])
            assert download.status_code == 200 and download.text == body
            assert artifact["sha256"] == hashlib.sha256(body.encode()).hexdigest()
            deleted = (await gql.data(DELETE_RUN, {"id": str(finished.run.id)}, token))["deleteRun"]
            assert deleted["errors"] == []
            listed = await admin.list_objects_v2(Bucket=BUCKET, Prefix=f"studio/{tenant.id}/")
            assert listed.get("Contents", []) == []
        assert (await http.get(artifact["downloadUrl"])).status_code == 404
