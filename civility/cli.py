"""The ``civility`` command line: one Typer app; each area registers its own commands.

Command modules import heavy libraries (torch, transformers, datasets) inside the
command functions, so ``civility --help`` and the scoring path stay light.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="civility",
    help="Civility: self-hosted moderation for news-site comment sections.",
    no_args_is_help=True,
    add_completion=False,
)

COMMAND_MODULES = (
    "civility.model.cli",  # score, models
    "civility.training.data_cli",  # extract, build-data, label
    "civility.training.train_cli",  # train, export
    "civility.training.evaluate_cli",  # evaluate
    "civility.service.cli",  # serve, keys, db
    "civility.service.queue_cli",  # queue / admin commands
)


@app.command("version")
def version() -> None:
    """Print the installed Civility version."""
    from civility import __version__

    typer.echo(__version__)


for _name in COMMAND_MODULES:
    importlib.import_module(_name).register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
