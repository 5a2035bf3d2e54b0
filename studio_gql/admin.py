"""Operator actions behind the CLI: tokens for scripts, the demo tenant."""

from __future__ import annotations

import difflib
import secrets
from typing import Any

import sqlalchemy as sa

from studio_shared.auth import Principal, encode_access_token, hash_password, verify_password
from studio_shared.db import create_engine, models, session_factory
from studio_shared.errors import StudioError
from studio_shared.examples import examples
from studio_shared.rbac import Role
from studio_shared.schemas import load_registry
from studio_shared.settings import Settings
from studio_shared.store import audit, tenants, workflows
from studio_shared.workflow_files import ExportedFile, ImportReport, OperatorPrincipal, export_workflows, import_files

DEMO_TENANT = "demo"
DEMO_EMAIL = "admin@demo.local"
DEMO_URL = "http://127.0.0.1:8000"
LISTED_TENANTS = 20


class UnknownTenant(ValueError):
    """A slug no tenant has: the message names the closest known slugs, so a typo never becomes a new tenant."""

    def __init__(self, slug: str, known: list[str]) -> None:
        close = difflib.get_close_matches(slug.lower(), known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listed = ", ".join(known[:LISTED_TENANTS]) + (
            f" and {len(known) - LISTED_TENANTS} more" if len(known) > LISTED_TENANTS else ""
        )
        where = f" Known tenant slugs: {listed}." if known else " There are no tenants yet."
        super().__init__(
            f"no tenant has the slug {slug!r}.{hint}{where} Pass --create-tenant to create a new tenant {slug!r}."
        )
        self.slug, self.suggestions = slug, close

    def without_create_hint(self) -> UnknownTenant:
        """The same error for commands that never create tenants."""
        self.args = (str(self).split(" Pass --create-tenant")[0],)
        return self


async def _with_sessions(settings: Settings, work: Any) -> Any:
    engine = create_engine(settings)
    try:
        async with session_factory(engine).begin() as s:
            return await work(s)
    finally:
        await engine.dispose()


async def issue_token(
    settings: Settings, tenant_slug: str, role: Role, email: str | None, ttl_s: int, *, create_tenant: bool = False
) -> str:
    """A token for the user ``email`` (made when missing, given ``role``) of the tenant ``tenant_slug``; the tenant
    must exist unless ``create_tenant`` (UnknownTenant, naming the close slugs; ValueError on other problems)."""

    async def work(s: Any) -> str:
        if not create_tenant and await tenants.tenant_by_slug(s, tenant_slug) is None:
            raise UnknownTenant(tenant_slug, await tenants.tenant_slugs(s))
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


class AdminExists(ValueError):
    """``studio create-admin`` for an email the tenant has already, without ``--reset-password``."""


async def create_admin(
    settings: Settings,
    tenant_slug: str,
    email: str,
    password: str,
    *,
    create_tenant: bool = False,
    reset_password: bool = False,
) -> str:
    """An ADMIN user ``email`` of the tenant ``tenant_slug`` who signs in with ``password``; returns what was done.

    The tenant must exist unless ``create_tenant`` (UnknownTenant otherwise). A user with this email already: the same
    command again (an active ADMIN whose password is ``password``) changes nothing; otherwise AdminExists, unless
    ``reset_password``, which sets the password, makes the user an active ADMIN and ends its sessions. The password
    policy of every password applies (ValueError naming what to fix)."""
    problems = tenants.password_problems(password)
    if problems:
        raise ValueError(f"the password is not acceptable: {problems[0].message}")

    async def work(s: Any) -> str:
        tenant = await tenants.tenant_by_slug(s, tenant_slug)
        if tenant is None:
            if not create_tenant:
                raise UnknownTenant(tenant_slug, await tenants.tenant_slugs(s))
            tenant = await tenants.get_or_create_tenant(s, tenant_slug)
        user = await tenants.user_by_email(s, tenant.id, email)
        if user is None:
            user = await tenants.create_user(s, tenant.id, email, password, Role.ADMIN, actor="cli")
            return f"created the admin {user.email} of the tenant {tenant.slug!r}"
        if user.role is Role.ADMIN and user.active and verify_password(user.password_hash, password):
            return f"the admin {user.email} of the tenant {tenant.slug!r} exists with this password: nothing to do"
        if not reset_password:
            raise AdminExists(
                f"the tenant {tenant.slug!r} already has a user {user.email} ({user.role.value}"
                f"{'' if user.active else ', disabled'}); pass --reset-password to give it this password and make it "
                "an active ADMIN (its sessions end)"
            )
        await tenants.operator_set_password(s, tenant.id, user.id, hash_password(password), actor="cli")
        if user.role is not Role.ADMIN:
            await tenants.set_role(s, tenant.id, user.id, Role.ADMIN, actor="cli")
        if not user.active:
            user.active = True
            audit.record(s, tenant.id, "cli", "user.enable", ("user", user.id))
        return f"reset the password of {user.email} of the tenant {tenant.slug!r}, an active ADMIN"

    try:
        result: str = await _with_sessions(settings, work)
    except StudioError as exc:
        raise ValueError(str(exc)) from exc
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
        return demo_instructions(tenant.slug, _demo_password(password_file, user.password_hash))

    result: str = await _with_sessions(settings, work)
    return result


def _demo_password(password_file: Any, password_hash: str | None) -> str | None:
    """The generated demo password, while it is still the admin's password (None once it was changed)."""
    if not password_file.exists():
        return None
    password: str = password_file.read_text().strip()
    return password if verify_password(password_hash, password) else None


def demo_instructions(slug: str, password: str | None) -> str:
    """What `studio demo` prints: the workspace slug, where to open the studio, and how to sign in."""
    shown = password or "(changed since it was generated: use yours, or have another admin reset it)"
    return "\n".join(
        (
            f"Demo tenant ready: workspace (tenant slug) {slug!r}.",
            f"Open {DEMO_URL} and sign in with",
            f"  email:     {DEMO_EMAIL}",
            f"  password:  {shown}",
            f"  workspace: {slug} (only needed when the email has accounts in several)",
            f"GraphiQL: {DEMO_URL}/graphql. A token for scripts: "
            f"studio token --tenant {slug} --role ADMIN --user {DEMO_EMAIL}",
        )
    )


async def _tenant_id(s: Any, slug: str) -> Any:
    tenant = await tenants.tenant_by_slug(s, slug)
    if tenant is None:
        raise UnknownTenant(slug, await tenants.tenant_slugs(s)).without_create_hint()
    return tenant.id


async def export_workflow_files(settings: Settings, tenant_slug: str, header: str = "") -> list[ExportedFile]:
    """The tenant's workflows as files (UnknownTenant; ValueError when two workflows share a name)."""
    registry = load_registry()

    async def work(s: Any) -> list[ExportedFile]:
        tenant_id = await _tenant_id(s, tenant_slug)
        try:
            return await export_workflows(s, tenant_id, registry, header=header)
        except StudioError as exc:
            raise ValueError(str(exc)) from exc

    result: list[ExportedFile] = await _with_sessions(settings, work)
    return result


async def import_workflow_files(
    settings: Settings,
    tenant_slug: str,
    files: dict[str, bytes],
    *,
    publish: bool,
    note: str | None,
    dry_run: bool,
) -> ImportReport:
    """Apply workflow files to the tenant in one transaction (see studio_shared.workflow_files.import_files)."""
    from studio_shared.crypto import SecretBox

    registry = load_registry()
    engine = create_engine(settings)
    try:
        sessions = session_factory(engine)
        async with sessions() as s:
            tenant_id = await _tenant_id(s, tenant_slug)
        actor = OperatorPrincipal(tenant_id=tenant_id, role=Role.ADMIN)
        return await import_files(
            sessions,
            SecretBox.from_settings(settings),
            tenant_id,
            actor,
            registry,
            files,
            publish=publish,
            note=note,
            dry_run=dry_run,
        )
    finally:
        await engine.dispose()
