"""``civility queue ...``: the review queue from the command line (list, show, decide, export, users)."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from civility.service.moderation.config import ModerationConfig

queue_app = typer.Typer(
    help="Review queue: list and decide comments, export moderator labels, manage web logins.",
    no_args_is_help=True,
)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="SQLAlchemy URL (default: CIVILITY_DATABASE_URL or the SQLite file)."
    ),
]
CLI_ACTOR = "cli"


def _engine(database_url: str | None) -> Engine:
    """The configured database, migrated to the latest schema."""
    from civility.service.db import make_engine, upgrade_database
    from civility.service.settings import Settings

    try:
        settings = Settings(database_url=database_url) if database_url else Settings()
    except Exception as exc:  # pydantic ValidationError or a bad CIVILITY_CONFIG
        raise typer.BadParameter(f"invalid configuration: {exc}") from exc
    if settings.database_url is None:
        settings.home.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.resolved_database_url)
    return make_engine(settings.resolved_database_url)


def _config() -> ModerationConfig:
    from civility.service.moderation.config import load_moderation_config
    from civility.service.settings import Settings

    return load_moderation_config(Settings().moderation_file)


def _fail(message: str) -> typer.Exit:
    typer.secho(message, fg="red", err=True)
    return typer.Exit(1)


@queue_app.command("list")
def list_command(
    queue: Annotated[str, typer.Option(help="pending, reported, approved, rejected or all.")] = "pending",
    label: Annotated[str | None, typer.Option(help="Only comments flagged for this label.")] = None,
    story: Annotated[str | None, typer.Option(help="Only this story id.")] = None,
    author: Annotated[str | None, typer.Option(help="Only this author id.")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
    sort: Annotated[str, typer.Option(help="priority, score, newest or oldest.")] = "priority",
    limit: Annotated[int, typer.Option(min=1, help="How many to show.")] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    database_url: DatabaseOption = None,
) -> None:
    """List a queue, highest priority first."""
    from rich.console import Console
    from rich.table import Table
    from sqlalchemy.orm import Session

    from civility.service.moderation.errors import ModerationError
    from civility.service.moderation.queue import QUEUES, SORTS, QueueFilter, list_queue

    if queue not in QUEUES:
        raise _fail(f"unknown queue {queue!r}; expected one of {', '.join(QUEUES)}")
    if sort not in SORTS:
        raise _fail(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
    engine = _engine(database_url)
    flt = QueueFilter(
        queue=queue,
        label=label,
        story_id=story,
        author_id=author,
        site=site,
        sort=sort,
        limit=limit,
        offset=offset,
    )
    with Session(engine) as session:
        try:
            page = list_queue(session, _config(), flt)
        except ModerationError as error:
            raise _fail(error.message) from error
    if as_json:
        for item in page.items:
            typer.echo(item.model_dump_json())
        return
    table = Table(title=f"{queue} queue: {page.total} comment(s), showing {len(page.items)} from {offset}")
    for column in ("id", "status", "priority", "top label", "author", "story", "text"):
        table.add_column(column, overflow="fold")
    for item in page.items:
        table.add_row(
            str(item.id),
            item.status + (f" ({item.open_reports} reports)" if item.open_reports else ""),
            f"{item.priority:.2f}",
            f"{item.top_label} {item.max_score:.2f}",
            item.author_name or item.author_id,
            item.story_id,
            item.text[:120],
        )
    Console().print(table)


@queue_app.command("counts")
def counts_command(database_url: DatabaseOption = None) -> None:
    """How many comments each queue holds."""
    from sqlalchemy.orm import Session

    from civility.service.moderation.queue import queue_counts

    with Session(_engine(database_url)) as session:
        counts = queue_counts(session)
    for name, value in counts.model_dump().items():
        typer.echo(f"{name:9} {value}")


@queue_app.command("show")
def show_command(comment_id: int, database_url: DatabaseOption = None) -> None:
    """One comment with its scores and full audit trail."""
    from sqlalchemy.orm import Session

    from civility.service.moderation.audit import audit_trail
    from civility.service.moderation.errors import ModerationError
    from civility.service.moderation.queue import comment_out, get_comment

    with Session(_engine(database_url)) as session:
        try:
            comment = comment_out(get_comment(session, comment_id))
            trail = audit_trail(session, comment_id)
        except ModerationError as error:
            raise _fail(error.message) from error
    typer.echo(
        f"#{comment.id} ({comment.client_id}) by {comment.author_name or comment.author_id}: {comment.status}"
    )
    typer.echo(comment.text)
    typer.echo("scores: " + ", ".join(f"{k} {v:.2f}" for k, v in comment.scores.items()))
    typer.echo("audit:")
    for entry in trail:
        before = entry.before["status"] if entry.before else "-"
        reason = f" [{entry.reason_code}]" if entry.reason_code else ""
        note = f" {entry.explanation}" if entry.explanation else ""
        typer.echo(
            f"  {entry.created_at:%Y-%m-%d %H:%M:%S} {entry.actor} ({entry.actor_role}) {entry.action}: "
            f"{before} -> {entry.after['status']}{reason}{note}"
        )


@queue_app.command("decide")
def decide_command(
    comment_id: int,
    action: Annotated[str, typer.Argument(help="approve or reject")],
    version: Annotated[int, typer.Option(help="The version you looked at (see `queue show`).")],
    reason: Annotated[str | None, typer.Option(help="Reason code (needed to reject).")] = None,
    explanation: Annotated[str | None, typer.Option(help="Free-text explanation.")] = None,
    moderator: Annotated[str, typer.Option(help="Name recorded in the audit trail.")] = CLI_ACTOR,
    database_url: DatabaseOption = None,
) -> None:
    """Approve or reject a comment (recorded in the audit trail)."""
    from pydantic import ValidationError
    from sqlalchemy.orm import Session

    from civility.service.moderation import decisions
    from civility.service.moderation.audit import Actor
    from civility.service.moderation.errors import ModerationError
    from civility.service.moderation.schemas import DecisionIn

    try:
        body = DecisionIn.model_validate(
            {"action": action, "version": version, "reason_code": reason, "explanation": explanation}
        )
    except ValidationError as error:
        raise _fail(f"invalid decision: {error.errors()[0]['msg']}") from error
    with Session(_engine(database_url)) as session:
        try:
            comment = decisions.decide(
                session, _config(), comment_id, body, Actor(name=moderator, role="admin")
            )
        except ModerationError as error:
            raise _fail(error.message) from error
        typer.echo(f"comment {comment_id}: {comment.status} (version {comment.version})")


def _parse_time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise typer.BadParameter(f"not an ISO 8601 time: {value!r}", param_hint=name) from exc
    if parsed.tzinfo is None:
        raise typer.BadParameter("give a UTC offset, e.g. 2026-11-22T00:00:00Z", param_hint=name)
    return parsed


@queue_app.command("export-labels")
def export_labels_command(
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here (default: stdout).")] = None,
    since: Annotated[str | None, typer.Option(help="Decisions at or after (ISO 8601 with offset).")] = None,
    until: Annotated[str | None, typer.Option(help="Decisions before (ISO 8601 with offset).")] = None,
    database_url: DatabaseOption = None,
) -> None:
    """Moderator decisions as labelled training data (JSONL for `civility train`)."""
    from civility.service.moderation.errors import ModerationError
    from civility.service.moderation.export import ExportWindow, iter_export_lines

    window = ExportWindow(since=_parse_time(since, "--since"), until=_parse_time(until, "--until"))
    engine = _engine(database_url)
    count = 0
    try:
        if out is None:
            for line in iter_export_lines(engine, _config(), window):
                sys.stdout.write(line)
                count += 1
        else:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("w", encoding="utf-8") as handle:
                for line in iter_export_lines(engine, _config(), window):
                    handle.write(line)
                    count += 1
    except ModerationError as error:
        raise _fail(error.message) from error
    typer.secho(f"exported {count} labelled comment(s)" + (f" to {out}" if out else ""), err=True)


@queue_app.command("add-user")
def add_user_command(
    username: str,
    role: Annotated[str, typer.Option(help="moderator or admin.")] = "moderator",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of prompting.")
    ] = False,
    database_url: DatabaseOption = None,
) -> None:
    """Create a username/password login for the moderator web page."""
    from sqlalchemy.orm import Session

    from civility.service.db.keys import Role
    from civility.service.moderation.accounts import create_account
    from civility.service.moderation.errors import ModerationError

    try:
        parsed = Role.parse(role)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--role") from exc
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    with Session(_engine(database_url)) as session:
        try:
            account = create_account(
                session, username=username, password=password, role=parsed, created_by=CLI_ACTOR
            )
            session.commit()
        except ModerationError as error:
            raise _fail(error.message) from error
    typer.echo(f"created {account.role} login {account.username!r}")


@queue_app.command("users")
def users_command(database_url: DatabaseOption = None) -> None:
    """List web logins."""
    from sqlalchemy.orm import Session

    from civility.service.moderation.accounts import list_accounts

    with Session(_engine(database_url)) as session:
        for account in list_accounts(session):
            state = "active" if account.active else "disabled"
            typer.echo(f"{account.username:30} {account.role:10} {state}")


@queue_app.command("disable-user")
def disable_user_command(username: str, database_url: DatabaseOption = None) -> None:
    """Disable a web login (it can no longer sign in; open sessions end at their next request)."""
    from sqlalchemy.orm import Session

    from civility.service.moderation.accounts import disable_account
    from civility.service.moderation.errors import ModerationError

    with Session(_engine(database_url)) as session:
        try:
            account = disable_account(session, username)
            session.commit()
        except ModerationError as error:
            raise _fail(error.message) from error
    typer.echo(f"disabled {account.username!r}")


def register(app: typer.Typer) -> None:
    """Add ``civility queue`` to the root app."""
    app.add_typer(queue_app, name="queue")
