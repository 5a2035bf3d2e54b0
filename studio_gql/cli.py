"""The ``studio`` command."""

from __future__ import annotations

import asyncio
import gc
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from studio_shared.rbac import Role
from studio_shared.settings import Env, Settings, load_settings

if TYPE_CHECKING:
    from studio_shared.workflow_files import ImportReport

cli = typer.Typer(no_args_is_help=True, add_completion=False, help="Workflow Agent Studio.")


def _prepare_database(settings: Settings) -> None:
    """The embedded default sets itself up; production databases are upgraded by `studio migrate` only."""
    if settings.database_url.startswith("sqlite") and settings.env is not Env.PRODUCTION:
        from studio_shared.db.migrate import upgrade

        upgrade(settings.database_url)


def _observe(settings: Settings, service: str) -> None:
    """A long-running process's logs (STUDIO_LOG_FORMAT) and, when configured, traces (see studio_shared.tracing)."""
    import logging

    from studio_shared import logs, tracing

    logs.configure(settings.log_format)
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the embedded default's migrations: one line each
    # httpx logs each request's full URL at INFO: a step's URL may hold a secret in its path or query.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    tracing.configure(settings, service)


@cli.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the API (GraphQL over HTTP and websockets, webhooks, health, the frontend)."""
    from studio_gql.app import create_app
    from studio_gql.server import run_server

    settings = load_settings()
    _observe(settings, "api")
    _prepare_database(settings)
    app = create_app(settings)
    # Everything imported so far lives as long as the process: keep it out of the collector's scans, so a full
    # collection under load (tens of ms on this code base) walks only request garbage.
    gc.collect()
    gc.freeze()
    run_server(app, settings, host, port)


@cli.command()
def migrate() -> None:
    """Upgrade the configured database to the newest schema (alembic upgrade head); with STUDIO_S3_CREATE_BUCKET=true,
    also create the S3 bucket of STUDIO_STORAGE_URL when it is missing."""
    from studio_shared.db.migrate import upgrade

    settings = load_settings()
    upgrade(settings.database_url)
    typer.echo("database is at the newest revision")
    if settings.s3_create_bucket:
        from studio_shared.storage import StorageError, create_bucket

        try:
            typer.echo(asyncio.run(create_bucket(settings)))
        except (StorageError, ValueError) as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(1) from exc


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


ADMIN_PASSWORD_ENV = "STUDIO_ADMIN_PASSWORD"  # noqa: S105 - the variable's name, not a password


def _admin_password() -> str:
    """The new admin's password: ``STUDIO_ADMIN_PASSWORD`` when set, else stdin (asked for twice, hidden, on a
    terminal; otherwise its first line). Never an argument: argv is visible to every user of the machine."""
    import os

    from_env = os.environ.get(ADMIN_PASSWORD_ENV)
    if from_env:
        return from_env
    if sys.stdin.isatty():
        password: str = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
        return password
    return sys.stdin.readline().removesuffix("\n").removesuffix("\r")


@cli.command("create-admin")
def create_admin(
    tenant: Annotated[str, typer.Option(help="Tenant slug (e.g. acme); it must exist unless --create-tenant.")],
    email: Annotated[str, typer.Option(help="The admin's email, the name they sign in with.")],
    create_tenant: Annotated[
        bool, typer.Option("--create-tenant", help="Create the tenant when no tenant has this slug.")
    ] = False,
    reset_password: Annotated[
        bool,
        typer.Option(
            "--reset-password",
            help="When the tenant has a user with this email: set this password, make it an active ADMIN.",
        ),
    ] = False,
) -> None:
    """Create an ADMIN who can sign in (the first one of a new installation). The password comes from the
    STUDIO_ADMIN_PASSWORD environment variable or stdin, never an argument; 8 to 1,024 characters. Running it again
    with the same password changes nothing; another password for an existing user needs --reset-password."""
    from studio_gql.admin import create_admin as create

    password = _admin_password()
    if not password:
        typer.echo(
            f"error: no password: set {ADMIN_PASSWORD_ENV} or pipe it on stdin "
            f"(printf '%s' \"$PASSWORD\" | studio create-admin …)",
            err=True,
        )
        raise typer.Exit(2)
    settings = load_settings()
    _prepare_database(settings)
    try:
        typer.echo(
            asyncio.run(
                create(settings, tenant, email, password, create_tenant=create_tenant, reset_password=reset_password)
            )
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc


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


_CHECK_HELP = (
    "Do not start one: exit 0 when a {kind} process on this host is alive and working (it wrote a heartbeat to Redis "
    "within three intervals, saying its database answers and its loop moves), 1 otherwise. For healthchecks."
)


MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        min=0,
        max=65535,
        help="Serve Prometheus metrics on this port at /metrics (0: a free one, logged; default STUDIO_METRICS_PORT).",
    ),
]
MetricsHost = Annotated[
    str | None,
    typer.Option("--metrics-host", help="Interface the metrics port binds (default STUDIO_METRICS_HOST, 127.0.0.1)."),
]


def _with_metrics(settings: Settings, port: int | None, host: str | None) -> Settings:
    updates: dict[str, object] = {}
    if port is not None:
        updates["metrics_port"] = port
    if host is not None:
        updates["metrics_host"] = host
    return settings.model_copy(update=updates) if updates else settings


def _check(settings: Settings, kind: str) -> None:
    """``studio worker --check`` / ``studio scheduler --check``: a container's healthcheck."""
    from studio_shared.heartbeat import check

    healthy, lines = asyncio.run(check(settings.redis_url or "", kind))
    for line in lines:
        typer.echo(line, err=not healthy)
    raise typer.Exit(0 if healthy else 1)


@cli.command()
def worker(
    check: Annotated[bool, typer.Option("--check", help=_CHECK_HELP.format(kind="worker"))] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
) -> None:
    """Run an arq worker process (needs STUDIO_REDIS_URL)."""
    settings = load_settings()
    if settings.redis_url is None:
        typer.echo(
            "error: studio worker needs STUDIO_REDIS_URL; without Redis, `studio serve` runs the workers", err=True
        )
        raise typer.Exit(2)
    if check:
        _check(settings, "worker")
    settings = _with_metrics(settings, metrics_port, metrics_host)
    from studio_worker.host import run_worker

    _observe(settings, "worker")
    run_worker(settings)


@cli.command()
def scheduler(
    check: Annotated[bool, typer.Option("--check", help=_CHECK_HELP.format(kind="scheduler"))] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = None,
) -> None:
    """Fire cron schedules, each tick exactly once (safe to run more than one; needs STUDIO_REDIS_URL)."""
    settings = load_settings()
    if settings.redis_url is None:
        typer.echo(
            "error: studio scheduler needs STUDIO_REDIS_URL (its runs go to `studio worker` processes); "
            "without Redis, `studio serve` runs the scheduler in-process",
            err=True,
        )
        raise typer.Exit(2)
    if check:
        _check(settings, "scheduler")
    settings = _with_metrics(settings, metrics_port, metrics_host)
    from studio_worker.host import run_scheduler

    _observe(settings, "scheduler")
    run_scheduler(settings)


workflows_cli = typer.Typer(no_args_is_help=True, help="Workflows as YAML files: export them, import them.")
cli.add_typer(workflows_cli, name="workflows")

TenantOption = Annotated[str, typer.Option("--tenant", help="Tenant slug (e.g. demo).")]


@workflows_cli.command("export")
def workflows_export(
    tenant: TenantOption,
    dir: Annotated[Path, typer.Option("--dir", help="Directory to write the files into (made when missing).")] = Path(
        "workflows"
    ),
    schema_url: Annotated[
        str | None,
        typer.Option(
            help="Write a `# yaml-language-server: $schema=URL` first line, e.g. "
            "http://127.0.0.1:8000/schemas/workflow-file.schema.json, so that editors check the files as typed."
        ),
    ] = None,
) -> None:
    """Write one YAML file per workflow (archived ones excepted): the draft definition, name, description, settings,
    triggers (webhooks without secrets, schedules) and the published version's note; layout positions last."""
    from studio_gql.admin import export_workflow_files

    settings = load_settings()
    _prepare_database(settings)
    header = f"# yaml-language-server: $schema={schema_url}\n" if schema_url else ""
    try:
        files = asyncio.run(export_workflow_files(settings, tenant, header))
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    dir.mkdir(parents=True, exist_ok=True)
    for file in files:
        (dir / file.file_name).write_text(file.text, encoding="utf-8")
        typer.echo(f"wrote {dir / file.file_name}  ({file.workflow_name})")
    typer.echo(f"{len(files)} workflows exported to {dir}")


@workflows_cli.command("import")
def workflows_import(
    tenant: TenantOption,
    dir: Annotated[Path, typer.Option("--dir", help="Directory of workflow files (*.yaml, *.yml).")] = Path(
        "workflows"
    ),
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish each workflow whose draft differs from its newest version.")
    ] = False,
    note: Annotated[str | None, typer.Option(help="The published versions' note (default: each file's note).")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show what would change; write nothing.")] = False,
) -> None:
    """Apply every file in one transaction: all of them, or (on any problem) none. Prints created, updated and
    unchanged workflows, and each problem with its file and path; exit code 1 when nothing was applied."""
    from studio_gql.admin import import_workflow_files
    from studio_shared.workflow_files import MAX_FILE_BYTES, read_capped

    settings = load_settings()
    if not dir.is_dir():
        typer.echo(f"error: {dir} is not a directory", err=True)
        raise typer.Exit(2)
    paths = sorted(p for p in dir.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not paths:
        typer.echo(f"error: no *.yaml or *.yml files in {dir}", err=True)
        raise typer.Exit(2)
    if len(paths) > MAX_IMPORT_FILES:
        typer.echo(f"error: {len(paths)} files in {dir}; one import takes at most {MAX_IMPORT_FILES}", err=True)
        raise typer.Exit(2)
    total = sum(min(path.stat().st_size, MAX_FILE_BYTES + 1) for path in paths)
    if total > MAX_IMPORT_BYTES:
        typer.echo(
            f"error: the files in {dir} hold {total:,} bytes; one import takes at most {MAX_IMPORT_BYTES:,}", err=True
        )
        raise typer.Exit(2)
    _prepare_database(settings)
    files = {path.name: read_capped(path) for path in paths}  # a file past the size cap is refused unparsed
    try:
        report = asyncio.run(
            import_workflow_files(settings, tenant, files, publish=publish, note=note, dry_run=dry_run)
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(format_import_report(report, dry_run=dry_run))
    if not report.ok:
        raise typer.Exit(1)


MAX_IMPORT_FILES = 1000
MAX_IMPORT_BYTES = 100 * 1024 * 1024  # files over the per-file cap count as the cap: they are refused unread


def format_import_report(report: ImportReport, *, dry_run: bool) -> str:
    """The import's outcome as people read it: one line per file, its problems and notices indented below."""
    lines: list[str] = []
    counts: dict[str, int] = {}
    for result in report.files:
        counts[result.action] = counts.get(result.action, 0) + 1
        name = f"  {result.name!r}" if result.name else ""
        changes = f": {', '.join(result.changes)}" if result.changes and result.action == "updated" else ""
        published = (
            f" (published version {result.published})" if result.published and result.action == "created" else ""
        )
        lines.append(f"{result.action:<9} {result.file}{name}{changes}{published}")
        for problem in result.problems:
            lines.append(f"  error   {result.file}: {problem.dotted or '<file>'}: {problem.message}")
        for problem in result.warnings if not result.problems else []:
            lines.append(f"  {problem.severity:<7} {result.file}: {problem.dotted or '<file>'}: {problem.message}")
        for notice in result.notices if not result.problems else []:
            lines.append(f"  note    {notice}")
    summary = ", ".join(f"{counts.get(action, 0)} {action}" for action in ("created", "updated", "unchanged"))
    if not report.ok:
        lines.append(f"nothing applied: {counts.get('invalid', 0)} of {len(report.files)} files have problems")
    elif dry_run:
        lines.append(f"dry run, nothing written: would be {summary}")
    else:
        lines.append(f"applied: {summary}")
    return "\n".join(lines)


def main() -> None:
    cli()
