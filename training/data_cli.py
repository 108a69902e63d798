"""Placeholder: commands are registered here by the owner of this area."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add this area's commands to the root ``civility`` app."""
