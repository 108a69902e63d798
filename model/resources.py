"""Locating configuration files shipped with the package (``civility.configs``)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml


def configs_dir() -> Path:
    """Directory holding the shipped YAML configuration (``configs/`` in the repository)."""
    return Path(str(resources.files("civility.configs")))


def load_yaml(relative: str | Path) -> Any:
    """Load a YAML file; relative paths resolve inside the shipped ``configs`` directory."""
    path = Path(relative)
    if not path.is_absolute() and not path.exists():
        path = configs_dir() / path
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)
