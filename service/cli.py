"""``civility serve``, ``civility keys create|list|revoke``, ``civility db upgrade``."""

from __future__ import annotations

import os
import tempfile
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from civility.service.batcher import ScoringModel
    from civility.service.settings import Settings

SERVE_HELP = "Run the scoring service (uvicorn + httptools/uvloop); migrates the database first."

keys_app = typer.Typer(help="Manage API keys (stored hashed; the token is shown once).", no_args_is_help=True)
db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL (default: CIVILITY_DATABASE_URL or the SQLite file)."
    ),
]


def _settings(database_url: str | None) -> Settings:
    from civility.service.settings import Settings

    try:
        return Settings(database_url=database_url) if database_url else Settings()
    except Exception as exc:  # pydantic ValidationError or a bad CIVILITY_CONFIG
        raise typer.BadParameter(f"invalid configuration: {exc}") from exc


def _session(database_url: str | None) -> Session:
    from civility.service.db import make_engine, session_factory, upgrade_database

    settings = _settings(database_url)
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    url = settings.resolved_database_url
    upgrade_database(url)
    return session_factory(make_engine(url))()


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None, revision: str = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    from civility.service.db import upgrade_database

    settings = _settings(database_url)
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    try:
        upgrade_database(settings.resolved_database_url, revision)
    except Exception as exc:
        typer.secho(f"migration failed: {exc}", fg="red", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"database at revision {revision}: {_redact(settings.resolved_database_url)}")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Who or what uses the key (e.g. 'coral-prod').")],
    role: Annotated[str, typer.Option("--role", help="scorer, moderator or admin.")] = "scorer",
    database_url: DatabaseOption = None,
) -> None:
    """Create an API key and print its token once."""
    from civility.service.db.keys import Role, create_key

    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from exc
    with _session(database_url) as session:
        try:
            issued = create_key(session, name=name, role=parsed)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--name") from exc
        session.commit()
        typer.echo(f"created key {issued.key.id} ({issued.key.name}, role {issued.key.role})")
        typer.echo("token (shown once, store it now):")
        typer.echo(issued.token)


@keys_app.command("list")
def keys_list(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List API keys (never their tokens)."""
    from civility.service.db.keys import list_keys

    with _session(database_url) as session:
        keys = list_keys(session, include_revoked=include_revoked)
        if not keys:
            typer.echo("no API keys; create one with: civility keys create --name NAME --role ROLE")
            return
        typer.echo(f"{'id':>4}  {'role':<9}  {'prefix':<12}  {'created':<20}  {'status':<8}  name")
        for key in keys:
            status = "active" if key.active else "revoked"
            created = key.created_at.strftime("%Y-%m-%d %H:%M:%S")
            typer.echo(
                f"{key.id:>4}  {key.role:<9}  {key.prefix + '…':<12}  {created:<20}  {status:<8}  {key.name}"
            )


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key id (see `civility keys list`).")],
    database_url: DatabaseOption = None,
) -> None:
    """Revoke an API key; requests with it get 401 from then on."""
    from civility.service.db.keys import revoke_key

    with _session(database_url) as session:
        try:
            key = revoke_key(session, key_id)
        except LookupError as exc:
            typer.secho(str(exc), fg="red", err=True)
            raise typer.Exit(1) from exc
        session.commit()
        typer.echo(f"revoked key {key.id} ({key.name})")


def serve(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (one ONNX thread each).")] = 1,
    database_url: DatabaseOption = None,
    model: Annotated[
        str | None, typer.Option("--model", help="Default model ref (name, name@version).")
    ] = None,
    no_auth: Annotated[
        bool, typer.Option("--no-auth", help="Turn authentication OFF (local development only).")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Run the HTTP service."""
    import uvicorn

    from civility.service.db import upgrade_database
    from civility.service.settings import Settings

    overrides: dict[str, str] = {"CIVILITY_LOG_LEVEL": log_level.upper()}
    if database_url:
        overrides["CIVILITY_DATABASE_URL"] = database_url
    if model:
        overrides["CIVILITY_MODEL"] = model
    if no_auth:
        overrides["CIVILITY_AUTH_ENABLED"] = "false"
        typer.secho(
            "WARNING: --no-auth: every route answers without credentials, with admin rights. "
            "Never expose this server beyond your own machine.",
            fg="red",
            bold=True,
            err=True,
        )
    os.environ.update(overrides)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        settings = Settings()
    except Exception as exc:
        typer.secho(f"invalid configuration: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    try:
        upgrade_database(settings.resolved_database_url)
    except Exception as exc:
        typer.secho(
            f"database migration failed ({_redact(settings.resolved_database_url)}): {exc}",
            fg="red",
            err=True,
        )
        raise typer.Exit(1) from exc
    # Migrated once here, so workers don't race each other.
    os.environ["CIVILITY_MIGRATE_ON_START"] = "false"
    # Load the model before binding the port: a bad --model fails here with a clear message.
    loaded = _check_model(settings)
    options: dict[str, Any] = {
        "host": host,
        "port": port,
        "loop": "uvloop",
        "http": "httptools",
        "log_config": None,
        "access_log": False,
        "timeout_graceful_shutdown": 20,
    }
    if workers == 1:
        from civility.service.app import create_app

        uvicorn.run(create_app(Settings(), scorer=loaded), **options)
        return
    del loaded  # each worker loads its own copy (the bundle is materialised once, above)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        uvicorn.run("civility.service.app:create_app", factory=True, workers=workers, **options)
        return
    with tempfile.TemporaryDirectory(prefix="civility-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir  # /metrics sums over the workers
        uvicorn.run("civility.service.app:create_app", factory=True, workers=workers, **options)


def _check_model(settings: Settings) -> ScoringModel:
    """Resolve (and materialise, once) the model in the parent, so workers don't race to do it."""
    from civility.service.model_pool import load_scorer

    try:
        model = load_scorer(settings)(settings.model)
    except Exception as exc:
        typer.secho(f"cannot load model {settings.model or '(default)'}: {exc}", fg="red", err=True)
        raise typer.Exit(2) from exc
    typer.echo(f"model {model.ref} ready", err=True)
    return model


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<invalid url>"


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root ``civility`` app."""
    app.command("serve", help=SERVE_HELP)(serve)
    app.add_typer(keys_app, name="keys")
    app.add_typer(db_app, name="db")
