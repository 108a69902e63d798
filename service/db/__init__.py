"""Database: tables (one module per area), engine/session helpers, Alembic migrations."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine

from civility.service.db.base import Base, make_engine, session_factory

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"

__all__ = [
    "MIGRATIONS_DIR",
    "Base",
    "alembic_config",
    "import_tables",
    "make_engine",
    "session_factory",
    "upgrade_database",
]


def import_tables() -> None:
    """Import every table module under ``civility.service.db`` so ``Base.metadata`` is complete."""
    for info in pkgutil.iter_modules(__path__):
        if info.name != "base":
            importlib.import_module(f"{__name__}.{info.name}")


def alembic_config(url: str) -> Config:
    """An Alembic config for our migrations; the URL travels in ``attributes`` (no %-interpolation)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def upgrade_database(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Bring the schema at ``url_or_engine`` up to ``revision`` (idempotent)."""
    if isinstance(url_or_engine, str):
        config = alembic_config(url_or_engine)
        command.upgrade(config, revision)
        return
    config = alembic_config(url_or_engine.url.render_as_string(hide_password=False))
    with url_or_engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
