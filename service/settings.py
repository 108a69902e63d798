"""Service configuration: the one place the service reads configuration.

Sources, highest precedence first: keyword arguments (tests), ``CIVILITY_*``
environment variables, a YAML file (``$CIVILITY_CONFIG`` or the shipped
``configs/service.yaml``), then the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from limits import RateLimitItem, parse_many
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from civility.model.resources import configs_dir

DEFAULT_HOME = Path.home() / ".local" / "share" / "civility"


def _yaml_config_path() -> Path | None:
    explicit = os.environ.get("CIVILITY_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise FileNotFoundError(f"CIVILITY_CONFIG points to {path}, which is not a file")
        return path
    shipped = configs_dir() / "service.yaml"
    return shipped if shipped.is_file() else None


def parse_limit(value: str) -> RateLimitItem:
    """One limit in ``limits`` syntax (``"5/15 minutes"``) allowing at least one event."""
    items = parse_many(value)
    if len(items) != 1:
        raise ValueError(f"expected one limit such as '5/15 minutes', got {value!r}")
    if items[0].amount < 1:
        raise ValueError(f"a limit must allow at least one attempt, got {value!r}")
    return items[0]


class Settings(BaseSettings):
    """Everything the scoring service and the review queue can be configured with."""

    model_config = SettingsConfigDict(env_prefix="CIVILITY_", extra="forbid", validate_default=True)

    # storage
    home: Path = Field(default=DEFAULT_HOME, description="Directory for the default SQLite database.")
    database_url: str | None = Field(
        default=None, description="SQLAlchemy URL; default sqlite:///<home>/civility.db"
    )
    migrate_on_start: bool = Field(default=True, description="Run Alembic migrations when the app starts.")

    # model
    model: str | None = Field(default=None, description="Default model ref (name, name@version or a path).")
    precision: Literal["int8", "fp32"] = "int8"
    onnx_threads: int = Field(default=1, ge=1, description="ONNX Runtime intra-op threads per worker.")
    max_loaded_models: int = Field(default=4, ge=1, description="Pinned bundles kept loaded at once (LRU).")
    preload_model: bool = Field(default=True, description="Load the default model at startup.")

    # request limits
    max_text_chars: int = Field(default=20_000, ge=1, description="Longest accepted comment, in characters.")
    max_batch_size: int = Field(default=64, ge=1, description="Most texts accepted in one /v1/score call.")
    max_span_chars: int = Field(
        default=2_000,
        ge=1,
        description="Most characters (summed over a request) that spans are computed for.",
    )
    max_request_bytes: int = Field(default=2_000_000, ge=1024, description="Largest accepted request body.")

    # micro-batching
    batch_max_size: int = Field(default=32, ge=1, description="Most texts the batcher scores in one call.")
    batch_max_wait_ms: float = Field(default=3.0, ge=0, description="Longest the batcher waits to fill up.")
    scoring_threads: int = Field(
        default=1, ge=1, description="Threads that run the model off the event loop."
    )

    # auth, limits, CORS
    auth_enabled: bool = Field(default=True, description="Turn off only for local development.")
    auth_cache_seconds: float = Field(
        default=10.0, ge=0, description="Cache API-key lookups this long (a revoked key works until then)."
    )
    rate_limit: str = Field(default="1200/minute", description="Per-key request rate limit (limits syntax).")
    rate_limit_storage: str = Field(
        default="memory://", description="limits storage URI; redis://host:6379 shares limits between workers"
    )
    rate_limit_namespace: str = Field(default="civility", description="Prefix of rate-limit keys in storage.")
    login_failures_per_address: str = Field(
        default="10/15 minutes",
        description="Failed /moderate/login attempts allowed per client address (limits syntax), "
        "then every attempt from it is refused until the oldest failure is older than the window.",
    )
    login_failures_per_account: str = Field(
        default="5/15 minutes",
        description="Failed /moderate/login attempts allowed per submitted username, from any address.",
    )
    cors_origins: list[str] = Field(default_factory=list, description="Allowed CORS origins; empty = off.")
    session_secret: SecretStr | None = Field(default=None, description="Secret for web login sessions.")

    # privacy and logging
    privacy_mode: bool = Field(
        default=False, description="Never store comment text (as if every request set doNotStore)."
    )
    debug: bool = Field(default=False, description="Debug mode: logs may contain comment text.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_json: bool = True

    # integrations
    policy_file: Path | None = Field(default=None, description="Policy YAML; default configs/policy.yaml.")
    moderation_file: Path | None = Field(
        default=None,
        description="Review-queue YAML (reasons, author-history rules); default configs/moderation.yaml.",
    )
    public_url: str | None = Field(
        default=None, description="Base URL clients use (discovery rootUrl); default: the request's."
    )
    coral_signing_secrets: list[SecretStr] = Field(
        default_factory=list,
        description="Coral external moderation phase signing secrets (several during rotation).",
    )
    coral_budget_ms: float = Field(
        default=250.0, gt=0, description="Answer Coral within this time or give no opinion (204)."
    )
    coral_reject_status: Literal["REJECTED", "SYSTEM_WITHHELD", "PREMOD"] = Field(
        default="REJECTED", description="Coral comment status for a reject decision."
    )
    coral_review_status: Literal["SYSTEM_WITHHELD", "PREMOD", "NONE"] = Field(
        default="SYSTEM_WITHHELD", description="Coral status for a review decision (NONE: flag only)."
    )

    @field_validator("database_url")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if value else None

    @field_validator("login_failures_per_address", "login_failures_per_account")
    @classmethod
    def _one_limit(cls, value: str) -> str:
        parse_limit(value)
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'civility.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        yaml_path = _yaml_config_path()
        if yaml_path is not None:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=yaml_path))
        return tuple(sources)
