"""Structured logs (structlog): JSON lines by default; comment text only in debug mode.

Log calls never pass comment text; as a second line of defence a processor drops
any field named like a text field unless debug is on.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog

TEXT_FIELDS = frozenset({"text", "texts", "comment", "body", "comment_text", "context"})


def _redact_text(debug: bool) -> Any:
    def processor(_logger: Any, _method: str, event: dict[str, Any]) -> dict[str, Any]:
        if not debug:
            for key in TEXT_FIELDS & event.keys():
                event[key] = "[redacted]"
        return event

    return processor


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (test capture, daemonisers)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        return None


def configure_logging(*, level: str = "INFO", json: bool = True, debug: bool = False) -> None:
    """Configure structlog and the standard library (uvicorn's loggers) to emit one format."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _redact_text(debug),
    ]
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = _CurrentStderr()
    handler.setFormatter(formatter)
    handler.set_name("civility")
    root = logging.getLogger()
    root.handlers = [h for h in root.handlers if h.get_name() != "civility"]
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # We log each request ourselves (with a request id and without query strings that may hold keys).
    logging.getLogger("uvicorn.access").disabled = True
