"""Operator actions behind the CLI: tokens for scripts, the demo tenant."""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa

from studio_shared.auth import Principal, encode_access_token
from studio_shared.db import create_engine, models, session_factory
from studio_shared.errors import StudioError
from studio_shared.examples import examples
from studio_shared.rbac import Role
from studio_shared.schemas import load_registry
from studio_shared.settings import Settings
from studio_shared.store import tenants, workflows

DEMO_TENANT = "demo"
DEMO_EMAIL = "admin@demo.local"


async def _with_sessions(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with session_factory(engine).begin() as s:
            return await work(s)
    finally:
        await engine.dispose()


async def issue_token(settings: Settings, tenant_slug: str, role: Role, email: str | None, ttl_s: int) -> str:
    """Ensure the tenant and user exist with ``role``; return a token for them (ValueError on a clash)."""

    async def work(s: Any) -> str:
        try:
            tenant = await tenants.get_or_create_tenant(s, tenant_slug)
            address = email or f"{role.value.lower()}@{tenant.slug}.studio.local"
            user = await tenants.user_by_email(s, tenant.id, address)
            if user is None:
                user = await tenants.create_user(s, tenant.id, address, None, role, actor="cli")
            elif user.role is not role:
                user = await tenants.set_role(s, tenant.id, user.id, role, actor="cli")
        except StudioError as exc:
            raise ValueError(str(exc)) from exc
        return encode_access_token(settings, subject=user.id, tenant_id=tenant.id, role=role, ttl_s=ttl_s)

    result: str = await _with_sessions(settings, work)
    return result


async def rotate_secrets(settings: Settings) -> int:
    """Re-encrypt every stored secret with the newest STUDIO_SECRET_KEY; returns how many were rewritten."""
    from studio_shared.crypto import SecretBox
    from studio_shared.store import credentials

    box = SecretBox.from_settings(settings)

    async def work(s: Any) -> int:
        return await credentials.rotate_all(s, box)

    result: int = await _with_sessions(settings, work)
    return result


async def create_demo(settings: Settings) -> str:
    """Idempotent: the demo tenant, an admin with a generated password kept in the state dir, examples."""
    password_file = settings.state_dir / "demo_admin_password"
    registry = load_registry()

    async def work(s: Any) -> str:
        tenant = await tenants.get_or_create_tenant(s, DEMO_TENANT, "Demo")
        user = await tenants.user_by_email(s, tenant.id, DEMO_EMAIL)
        if user is None:
            password = secrets.token_urlsafe(12)
            user = await tenants.create_user(s, tenant.id, DEMO_EMAIL, password, Role.ADMIN, actor="demo")
            settings.state_dir.mkdir(parents=True, exist_ok=True)
            password_file.write_text(password)
            password_file.chmod(0o600)
        actor = Principal(tenant_id=tenant.id, role=Role.ADMIN, user_id=user.id)
        existing = set(await s.scalars(sa.select(models.Workflow.name).where(models.Workflow.tenant_id == tenant.id)))
        for example in examples():
            if example["name"] in existing:
                continue
            row = await workflows.create(s, tenant.id, actor, registry, **example)
            await workflows.publish(s, tenant.id, actor, registry, row.id, "example")
        shown = (
            password_file.read_text().strip() if password_file.exists() else "(set before; reset it with createUser)"
        )
        return (
            f"Demo tenant ready. Log in at http://127.0.0.1:8000/graphql with\n"
            f'  mutation {{ login(email: "{DEMO_EMAIL}", password: "{shown}") {{ token }} }}\n'
            f"then send the token as 'Authorization: Bearer <token>'."
        )

    result: str = await _with_sessions(settings, work)
    return result
