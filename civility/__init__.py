"""Civility: self-hosted moderation for news-site comment sections.

The distribution maps ``civility.model`` to ``model/``, ``civility.service`` to
``service/``, ``civility.training`` to ``training/`` and ``civility.configs`` to
``configs/``. When running straight from a source checkout (no install), the
package path is extended with the repository root so the same imports work.
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

_repo_root = Path(__file__).resolve().parent.parent
if (_repo_root / "model" / "__init__.py").is_file() and str(_repo_root) not in __path__:
    __path__.append(str(_repo_root))
