"""Mapping files (``configs/corpora/<corpus>.yaml``): how one public corpus maps onto Civility's labels.

A mapping file declares the corpus's files and format, its text/id/group columns, its licence,
how its rows are split, and one :class:`LabelRule` per project label it annotates. A label the
file does not mention is *missing* for every row of that corpus (None, masked out of the loss),
never 0.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from civility.model.labels import label_ids
from civility.model.resources import configs_dir, load_yaml

SplitName = Literal["train", "validation", "test"]
SplitHint = Literal["auto", "train", "validation", "test"]
TableFormat = Literal["csv", "tsv", "ssv", "jsonl", "parquet", "hf_disk"]
Domain = Literal["news", "discussion", "social", "chatbot", "hate", "synthetic", "evaluation", "user"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class Condition(StrictModel):
    """A row filter: the row's ``column`` value is one of ``values`` and/or within [min, max]."""

    column: str
    values: list[str | int | float] | None = None
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_test(self) -> Condition:
        if self.values is None and self.min is None and self.max is None:
            raise ValueError(f"condition on {self.column!r} needs 'values', 'min' or 'max'")
        return self


class LabelRule(StrictModel):
    """How one project label is computed from a corpus's columns.

    Steps, in order: read ``column`` (a list of columns takes the row-wise maximum), divide by
    ``denominator`` (fraction of rater votes / ratio of two columns), then exactly one transform
    (``value_map`` | ``threshold`` | ``rescale`` | ``confidence``), then ``invert``; rows that fail
    ``where`` get ``otherwise``. ``constant`` gives every row the same value; ``cases`` tries
    several rules and takes the first that is not missing. Missing is ``None``.
    """

    column: str | list[str] | None = None
    denominator: str | None = None
    value_map: dict[str, float | None] | None = None
    default: float | None = None
    threshold: float | None = None
    rescale: tuple[float, float] | None = None
    confidence: str | None = None
    invert: bool = False
    constant: float | None = Field(default=None, ge=0.0, le=1.0)
    where: list[Condition] = Field(default_factory=list)
    otherwise: float | None = Field(default=None, ge=0.0, le=1.0)
    cases: list[LabelRule] | None = None

    @model_validator(mode="before")
    @classmethod
    def _stringify_map_keys(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("value_map"), dict):
            data = dict(data)
            data["value_map"] = {key_text(k): v for k, v in data["value_map"].items()}
        return data

    @model_validator(mode="after")
    def _one_source(self) -> LabelRule:
        sources = [self.column is not None, self.constant is not None, self.cases is not None]
        if sum(sources) != 1:
            raise ValueError("a label rule needs exactly one of 'column', 'constant' or 'cases'")
        transforms = [
            self.value_map is not None,
            self.threshold is not None,
            self.rescale is not None,
            self.confidence is not None,
        ]
        if sum(transforms) > 1:
            raise ValueError("use at most one of 'value_map', 'threshold', 'rescale', 'confidence'")
        if self.rescale is not None and self.rescale[1] <= self.rescale[0]:
            raise ValueError("'rescale' needs [low, high] with high > low")
        return self


def key_text(value: Any) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


class JoinSpec(StrictModel):
    """Corrected labels from a second table (e.g. a published relabelling), joined on the ``key`` column.

    For each ``source: target`` pair in ``columns``, a non-empty ``source`` value in the joined table
    replaces ``target`` in the corpus file; rows without a match keep their own value.
    """

    path: str
    key: str
    columns: dict[str, str] = Field(min_length=1)


class FileSpec(StrictModel):
    """One file (or, for a special reader, one directory) of a corpus."""

    path: str
    split: SplitHint = "auto"
    split_column: str | None = None  # per-row split hint produced by a reader; overrides ``split``
    reader: str | None = None  # a named special reader for this file; overrides the corpus's ``reader``
    labels: dict[str, LabelRule] | None = None  # replaces the corpus's label rules for this file
    text: str | None = None  # overrides the corpus's text column for this file
    join: JoinSpec | None = None


class CorpusSpec(StrictModel):
    """A corpus mapping file."""

    name: str = Field(pattern=r"^[a-z0-9_]+$")
    title: str
    license: str
    domain: Domain
    note: str = ""
    caveats: list[str] = Field(default_factory=list)
    directory: str | None = None  # folder under the datasets root; defaults to ``name``
    # "configs": the files ship with Civility under ``configs/`` (hand-written contrast sets), not
    # under the public datasets root.
    location: Literal["datasets", "configs"] = "datasets"
    format: TableFormat = "csv"
    header: bool = True
    quoted: bool = True  # False: quote characters in delimited files are literal text (e.g. OLID's TSV)
    column_names: list[str] | None = None
    encoding: str = "utf-8"
    reader: str | None = None  # a named special reader in ``civility.training.corpora.readers``
    reader_options: dict[str, Any] = Field(default_factory=dict)
    files: list[FileSpec] = Field(min_length=1)
    text: str
    text_decoder: str | None = None  # a named decoder in ``civility.training.corpora.readers``
    id: str | None = None
    group: str | list[str] | None = None  # list: the first non-empty column wins
    group_pattern: str | None = None  # regex; group = first capture group of the group value
    drop_texts: list[str] = Field(default_factory=list)
    labels: dict[str, LabelRule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_labels(self) -> CorpusSpec:
        used = set(self.labels)
        for file in self.files:
            used |= set(file.labels or {})
            if not (file.labels or self.labels):
                raise ValueError(
                    f"file {file.path!r} has no label rules (set 'labels' on the corpus or file)"
                )
        unknown = sorted(used - set(label_ids()))
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; known: {label_ids()}")
        return self

    def rules_for(self, file: FileSpec) -> dict[str, LabelRule]:
        return self.labels if file.labels is None else file.labels

    @property
    def folder(self) -> str:
        return self.directory or self.name

    def base_dir(self, datasets_root: Path) -> Path:
        """The folder this corpus's file paths are relative to."""
        return (configs_dir() if self.location == "configs" else datasets_root) / self.folder


class MappingError(Exception):
    """A mapping file is invalid or does not fit the data it describes."""


def corpora_config_dir() -> Path:
    return configs_dir() / "corpora"


def load_corpus_spec(name_or_path: str | Path) -> CorpusSpec:
    """Load and validate a mapping file by corpus name (shipped configs) or by path."""
    path = Path(name_or_path)
    if path.suffix not in {".yaml", ".yml"}:
        path = corpora_config_dir() / f"{name_or_path}.yaml"
    if not path.exists():
        raise MappingError(f"no mapping file for corpus {name_or_path!r} (looked for {path})")
    try:
        return CorpusSpec.model_validate(load_yaml(path))
    except (ValueError, yaml.YAMLError) as exc:  # pydantic's ValidationError is a ValueError
        raise MappingError(f"invalid mapping file {path}:\n{exc}") from exc
