"""The ``studio`` command."""

from __future__ import annotations

import asyncio
import gc
import sys
from typing import Annotated

import typer

from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings, load_settings

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Workflow Agent Studio.")


def _prepare_database(settings: Settings) -> None:
    """The embedded default sets itself up; production databases are upgraded by `studio migrate` only."""
    if settings.database_url.startswith("sqlite") and settings.env is not Env.PRODUCTION:
        from studio_shared.db.migrate import upgrade

        upgrade(settings.database_url)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the API (GraphQL over HTTP and websockets, webhooks, health, the frontend)."""
    import uvicorn

    from studio_gql.app import create_app

    settings = load_settings()
    _prepare_database(settings)
    app = create_app(settings)
    # Everything imported so far lives as long as the process: keep it out of the collector's scans, so a full
    # collection under load (tens of ms on this code base) walks only request garbage.
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="info", ws="websockets-sansio")


@cli.command()
def migrate() -> None:
    """Upgrade the configured database to the newest schema (alembic upgrade head)."""
    from studio_shared.db.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    typer.echo("database is at the newest revision")


@cli.command()
def token(
    tenant: Annotated[str, typer.Option(help="Tenant slug (e.g. demo); it must exist unless --create-tenant.")],
    role: Annotated[Role, typer.Option(help="Role of the user and the token.", case_sensitive=False)],
    user: Annotated[str | None, typer.Option(help="User email; created when missing.")] = None,
    ttl: Annotated[int, typer.Option(help="Lifetime in seconds.", min=1)] = 3600,
    create_tenant: Annotated[
        bool, typer.Option("--create-tenant", help="Create the tenant when no tenant has this slug.")
    ] = False,
) -> None:
    """Print a signed access token on the last line for a user of the tenant (the user is created when missing);
    an unknown tenant slug is an error naming the known ones, unless --create-tenant."""
    from studio_gql.admin import issue_token

    settings = load_settings()
    _prepare_database(settings)
    try:
        printed = asyncio.run(issue_token(settings, tenant, role, user, ttl, create_tenant=create_tenant))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(printed)


@cli.command("export-schema")
def export_schema() -> None:
    """Print the GraphQL SDL (schema.graphql in the repository is this output)."""
    from studio_gql.schema import export_sdl

    sys.stdout.write(export_sdl())


@cli.command()
def demo() -> None:
    """Create the demo tenant, its admin and example workflows (idempotent); print how to log in."""
    from studio_gql.admin import create_demo

    settings = load_settings()
    if settings.env is Env.PRODUCTION:
        typer.echo("error: refusing to create demo data when STUDIO_ENV=production", err=True)
        raise typer.Exit(2)
    _prepare_database(settings)
    typer.echo(asyncio.run(create_demo(settings)))


@cli.command("rotate-secrets")
def rotate_secrets() -> None:
    """Re-encrypt stored credentials and webhook secrets with the first key of STUDIO_SECRET_KEY."""
    from studio_gql.admin import rotate_secrets as rotate
    from studio_shared.crypto import DecryptionFailed

    settings = load_settings()
    try:
        count = asyncio.run(rotate(settings))
    except DecryptionFailed as exc:
        typer.echo(
            f"error: {exc}; keep the old key in STUDIO_SECRET_KEY (after the new one) until this succeeds", err=True
        )
        raise typer.Exit(2) from exc
    typer.echo(f"re-encrypted {count} secrets with the newest key; older keys may now be removed")


@cli.command()
def worker() -> None:
    """Run an arq worker process (needs STUDIO_REDIS_URL)."""
    import logging

    from studio_worker.host import run_worker

    settings = load_settings()
    if settings.redis_url is None:
        typer.echo(
            "error: studio worker needs STUDIO_REDIS_URL; without Redis, `studio serve` runs the workers", err=True
        )
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_worker(settings)


@cli.command()
def scheduler() -> None:
    """Fire cron schedules, each tick exactly once (safe to run more than one; needs STUDIO_REDIS_URL)."""
    import logging

    from studio_worker.host import run_scheduler

    settings = load_settings()
    if settings.redis_url is None:
        typer.echo(
            "error: studio scheduler needs STUDIO_REDIS_URL (its runs go to `studio worker` processes); "
            "without Redis, `studio serve` runs the scheduler in-process",
            err=True,
        )
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    run_scheduler(settings)


def main() -> None:
    cli()
