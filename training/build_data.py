"""``civility build-data``: map the public corpora, deduplicate, split by group, cap, write ``data/corpus``.

The recipe is ``configs/data.yaml`` (validated by :class:`DataRecipe`); each corpus's mapping is
``configs/corpora/<corpus>.yaml``. Output (see docs/ARCHITECTURE.md): a ``datasets.DatasetDict``
saved with ``save_to_disk`` (splits train / validation / test), plus ``DATA_CARD.md`` and ``stats.json``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import typer
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from civility.model.labels import label_ids
from civility.model.resources import configs_dir, load_yaml
from civility.training.corpora.loader import load_corpus
from civility.training.corpora.mixing import (
    SPLITS,
    assign_splits,
    cap_rows,
    dedup_key,
    deduplicate,
    imply_negatives,
    priority_rank,
)
from civility.training.corpora.report import (
    corpus_stats,
    identity_cooccurrence,
    identity_pattern,
    render_card,
)
from civility.training.corpora.spec import CorpusSpec, MappingError, load_corpus_spec

DATASETS_ENV = "CIVILITY_DATASETS_DIR"


class CorpusEntry(BaseModel):
    """One corpus in the mix: its loss/sampling weight, split fractions and per-split row caps."""

    model_config = ConfigDict(extra="forbid")

    name: str
    weight: float = Field(default=1.0, gt=0.0)
    validation: float | None = Field(default=None, ge=0.0, lt=1.0)
    test: float | None = Field(default=None, ge=0.0, lt=1.0)
    train_cap: int | None = Field(default=None, ge=1)
    validation_cap: int | None = Field(default=None, ge=1)
    test_cap: int | None = Field(default=None, ge=1)


SplitName = Literal["train", "validation", "test"]


def _train_only() -> list[SplitName]:
    return ["train"]


class ImpliedNegatives(BaseModel):
    """Labels that are kinds of ``source``: unannotated ones become 0 where ``source`` is clearly 0."""

    model_config = ConfigDict(extra="forbid")

    source: str
    at_most: float = Field(ge=0.0, lt=0.5)
    targets: list[str] = Field(min_length=1)
    splits: list[SplitName] = Field(default_factory=_train_only)


class DataRecipe(BaseModel):
    """``configs/data.yaml``."""

    model_config = ConfigDict(extra="forbid")

    datasets_roots: list[str] = Field(min_length=1)
    output_dir: str = "data/corpus"
    seed: int = 13
    min_chars: int = Field(default=2, ge=1)
    positive_threshold: float = Field(default=0.5, gt=0.0, le=1.0)
    validation: float = Field(default=0.1, ge=0.0, lt=1.0)
    test: float = Field(default=0.1, ge=0.0, lt=1.0)
    priority_labels: list[str] = Field(default_factory=list)
    contrast_labels: list[str] = Field(default_factory=list)
    identity_negative_labels: list[str] = Field(default_factory=list)
    implied_negatives: list[ImpliedNegatives] = Field(default_factory=list)
    identity_negative_weight: float = Field(default=1.0, ge=1.0)
    identity_negative_max: float = Field(default=0.2, ge=0.0, lt=0.5)
    corpora: list[CorpusEntry] = Field(min_length=1)
    evaluation_only: list[str] = Field(default_factory=list)
    excluded: dict[str, str] = Field(default_factory=dict)
    identity_terms: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> DataRecipe:
        names = [entry.name for entry in self.corpora]
        if len(set(names)) != len(names):
            raise ValueError("a corpus is listed twice under 'corpora'")
        both = sorted(set(names) & set(self.evaluation_only))
        if both:
            raise ValueError(f"evaluation-only corpora cannot be in the training mix: {both}")
        implied = [label for rule in self.implied_negatives for label in [rule.source, *rule.targets]]
        unknown = sorted(
            set(self.priority_labels + self.contrast_labels + self.identity_negative_labels + implied)
            - set(label_ids())
        )
        if unknown:
            raise ValueError(
                "unknown label(s) in priority_labels / contrast_labels / identity_negative_labels / "
                "implied_negatives: "
                f"{unknown}"
            )
        for rule in self.implied_negatives:
            if rule.source in rule.targets:
                raise ValueError(f"implied_negatives: {rule.source} cannot imply itself")
        for entry in self.corpora:
            if self.fractions(entry)[0] + self.fractions(entry)[1] >= 1.0:
                raise ValueError(f"{entry.name}: validation + test fractions must be below 1")
        return self

    def fractions(self, entry: CorpusEntry) -> tuple[float, float]:
        validation = self.validation if entry.validation is None else entry.validation
        test = self.test if entry.test is None else entry.test
        return validation, test


def load_recipe(path: str | Path | None = None) -> DataRecipe:
    source = Path(path) if path is not None else configs_dir() / "data.yaml"
    if not source.exists():
        raise MappingError(f"recipe not found: {source}")
    try:
        return DataRecipe.model_validate(load_yaml(source))
    except (ValidationError, yaml.YAMLError) as exc:
        raise MappingError(f"invalid recipe {source}:\n{exc}") from exc


def resolve_datasets_root(recipe: DataRecipe, override: Path | None = None) -> Path:
    """The first existing of ``override``, ``$CIVILITY_DATASETS_DIR`` and the recipe's roots.

    Relative recipe roots resolve against the repository root.
    """
    if override is not None:
        if not override.is_dir():
            raise MappingError(f"datasets directory not found: {override}")
        return override.resolve()
    repo = configs_dir().parent
    candidates: list[Path] = []
    if os.environ.get(DATASETS_ENV):
        candidates.append(Path(os.environ[DATASETS_ENV]))
    candidates += [Path(root) if Path(root).is_absolute() else repo / root for root in recipe.datasets_roots]
    for candidate in candidates:
        if candidate.is_dir():
            return candidate.resolve()
    tried = ", ".join(str(c) for c in candidates)
    raise MappingError(f"no datasets directory found (tried {tried}); pass --datasets or set ${DATASETS_ENV}")


@dataclass
class BuildResult:
    output: Path
    split_rows: dict[str, int]
    stats: dict[str, Any]


def _features() -> Any:
    from datasets import Features, Value

    columns = {"id": Value("string"), "text": Value("string"), "corpus": Value("string")}
    columns |= {"group": Value("string"), "weight": Value("float32")}
    columns |= {label: Value("float32") for label in label_ids()}
    return Features(columns)


def assemble(
    recipe: DataRecipe,
    root: Path,
    *,
    corpora: list[str] | None = None,
    max_rows_per_corpus: int | None = None,
    specs_dir: Path | None = None,
) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Load, deduplicate, split and cap; returns the three split frames and the statistics."""
    labels = label_ids()
    entries = [e for e in recipe.corpora if corpora is None or e.name in corpora]
    if corpora is not None:
        missing = sorted(set(corpora) - {e.name for e in recipe.corpora})
        if missing:
            raise MappingError(f"corpus not in the recipe: {missing}")

    def spec_for(name: str) -> CorpusSpec:
        return load_corpus_spec(specs_dir / f"{name}.yaml" if specs_dir else name)

    specs = {entry.name: spec_for(entry.name) for entry in entries}
    excluded: list[str] = [f"{name}: {reason}" for name, reason in recipe.excluded.items()]
    frames = []
    for entry in entries:
        frame = load_corpus(specs[entry.name], root)
        if max_rows_per_corpus is not None and len(frame) > max_rows_per_corpus:
            load_rank = priority_rank(
                frame,
                recipe.priority_labels,
                recipe.positive_threshold,
                contrast_labels=recipe.contrast_labels,
            )
            frame = cap_rows(frame, max_rows_per_corpus, recipe.seed, load_rank)
        frames.append(frame)
    pooled = pd.concat(frames, ignore_index=True)
    short = pooled["text"].str.len() < recipe.min_chars
    if short.any():
        excluded.append(f"{int(short.sum()):,} rows shorter than {recipe.min_chars} characters")
    pooled = pooled[~short]

    merged = deduplicate(pooled, labels)
    duplicates = len(pooled) - len(merged)
    cross = int((merged["sources"].str.contains(",")).sum())
    excluded.append(
        f"{duplicates:,} duplicate rows merged into their first copy after text normalisation "
        f"({cross:,} texts occurred in more than one corpus; labels averaged where both annotate)"
    )

    for name in recipe.evaluation_only:
        spec = spec_for(name)
        try:
            evaluation = load_corpus(spec, root)
        except MappingError as exc:
            excluded.append(f"{name}: evaluation-only corpus not checked for overlap ({exc})")
            continue
        keys = set(evaluation["text"].map(dedup_key))
        overlap = merged["key"].isin(keys)
        merged = merged[~overlap]
        excluded.append(
            f"{name}: evaluation only, never in train/validation/test; {int(overlap.sum()):,} training "
            "rows whose text also occurs in it were removed"
        )

    fractions = {entry.name: recipe.fractions(entry) for entry in entries}
    merged = merged.assign(split=assign_splits(merged, fractions, recipe.seed))
    weights = {entry.name: entry.weight for entry in entries}
    merged["weight"] = merged["corpus"].map(weights).astype("float32")

    pattern = identity_pattern(recipe.identity_terms)
    mentions = merged["text"].map(lambda text: bool(pattern.search(text)))
    implied: dict[str, dict[str, int]] = {}
    for rule in recipe.implied_negatives:
        for rule_split in rule.splits:
            rows = merged["split"] == rule_split
            part, filled = imply_negatives(merged[rows], rule.source, rule.at_most, rule.targets)
            merged.loc[rows, list(labels)] = part[list(labels)]
            counts = implied.setdefault(rule_split, {})
            for target, n in filled.items():
                counts[target] = counts.get(target, 0) + n
    # Loss weight of train rows that mention an identity term and that raters judged clearly not toxic
    # (Dixon et al. 2018: such rows are rare in abuse corpora, so a model learns the mention itself).
    reweighted = (
        (merged["split"] == "train")
        & mentions
        & merged["toxicity"].notna()
        & (merged["toxicity"] <= recipe.identity_negative_max)
    )
    if recipe.identity_negative_weight != 1.0:
        merged.loc[reweighted, "weight"] = merged.loc[reweighted, "weight"] * recipe.identity_negative_weight
    splits: dict[str, pd.DataFrame] = {}
    for split in SPLITS:
        parts = []
        for entry in entries:
            part = merged[(merged["split"] == split) & (merged["corpus"] == entry.name)]
            cap = {"train": entry.train_cap, "validation": entry.validation_cap, "test": entry.test_cap}[
                split
            ]
            # Train keeps rare positives, contrast negatives and identity-mentioning negatives first;
            # evaluation splits are sampled at random so their label rates stay natural.
            rank: np.ndarray | None = (
                priority_rank(
                    part,
                    recipe.priority_labels,
                    recipe.positive_threshold,
                    mentions,
                    recipe.identity_negative_labels,
                    recipe.contrast_labels,
                )
                if split == "train"
                else None
            )
            kept = cap_rows(part, cap, recipe.seed, rank)
            if len(kept) < len(part):
                excluded.append(
                    f"{entry.name}: {len(part) - len(kept):,} {split} rows over the cap of {cap:,}"
                )
            parts.append(kept)
        splits[split] = pd.concat(parts, ignore_index=True)[
            ["id", "text", "corpus", "group", "weight", *labels]
        ]

    stats: dict[str, Any] = {
        "recipe": "configs/data.yaml",
        "datasets_root": str(root),
        "seed": recipe.seed,
        "positive_threshold": recipe.positive_threshold,
        "labels": labels,
        "split_rows": {split: len(splits[split]) for split in SPLITS},
        "weights": weights,
        "identity_terms": recipe.identity_terms,
        "evaluation_only": recipe.evaluation_only,
        "identity_negatives_reweighted": {
            "rows": int(reweighted.sum()),
            "factor": recipe.identity_negative_weight,
            "toxicity_at_most": recipe.identity_negative_max,
        },
        "implied_negatives": {
            "rules": [rule.model_dump() for rule in recipe.implied_negatives],
            "filled_before_caps": implied,
        },
    }
    stats["corpora"] = corpus_stats(splits, specs, labels, recipe.positive_threshold)
    stats["sources"] = [
        {"name": name, "rows": info["total_rows"], "license": info["license"], "note": info["note"]}
        for name, info in stats["corpora"].items()
    ]
    train = splits["train"]
    stats["identity_cooccurrence"] = identity_cooccurrence(train, labels, pattern, recipe.positive_threshold)
    for name, info in stats["corpora"].items():
        part = train[train["corpus"] == name]
        info["identity_cooccurrence"] = identity_cooccurrence(
            part, info["labels"], pattern, recipe.positive_threshold
        )
    stats["excluded"] = excluded
    return splits, stats


def build(
    recipe: DataRecipe,
    root: Path,
    output: Path,
    *,
    corpora: list[str] | None = None,
    max_rows_per_corpus: int | None = None,
    specs_dir: Path | None = None,
) -> BuildResult:
    """Build the corpus and write it to ``output`` (replaced if it exists)."""
    from datasets import Dataset, DatasetDict

    splits, stats = assemble(
        recipe, root, corpora=corpora, max_rows_per_corpus=max_rows_per_corpus, specs_dir=specs_dir
    )
    features = _features()
    dataset = DatasetDict(
        {
            split: Dataset.from_pandas(frame.reset_index(drop=True), features=features, preserve_index=False)
            for split, frame in splits.items()
        }
    )
    staging = output.with_name(output.name + ".tmp")
    if staging.exists():
        shutil.rmtree(staging)
    dataset.save_to_disk(str(staging))
    (staging / "stats.json").write_text(
        json.dumps(stats, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    (staging / "DATA_CARD.md").write_text(render_card(stats, label_ids()), encoding="utf-8")
    if output.exists():
        shutil.rmtree(output)
    staging.rename(output)
    return BuildResult(output=output, split_rows=stats["split_rows"], stats=stats)


def register_build_data(app: typer.Typer) -> None:
    """Add ``civility build-data`` to the root app."""

    @app.command("build-data")
    def build_data(
        config: Annotated[
            Path | None, typer.Option("--config", help="Data recipe (default: configs/data.yaml).")
        ] = None,
        datasets: Annotated[
            Path | None,
            typer.Option(
                "--datasets", help=f"Folder of public corpora (default: ${DATASETS_ENV} or the recipe's)."
            ),
        ] = None,
        output: Annotated[Path | None, typer.Option("--output", "-o", help="Output directory.")] = None,
        corpus: Annotated[
            list[str] | None, typer.Option("--corpus", help="Only these corpora (repeatable).")
        ] = None,
        max_rows_per_corpus: Annotated[
            int | None,
            typer.Option(
                "--max-rows-per-corpus", min=1, help="Cap each corpus before mixing (quick builds)."
            ),
        ] = None,
    ) -> None:
        """Map the public corpora onto Civility's labels and write the training corpus."""
        try:
            recipe = load_recipe(config)
            root = resolve_datasets_root(recipe, datasets)
            target = output or Path(recipe.output_dir)
            result = build(recipe, root, target, corpora=corpus, max_rows_per_corpus=max_rows_per_corpus)
        except MappingError as exc:
            typer.secho(f"error: {exc}", err=True, fg=typer.colors.RED)
            raise typer.Exit(code=2) from exc
        rows = ", ".join(f"{split} {count:,}" for split, count in result.split_rows.items())
        typer.echo(f"wrote {result.output} ({rows}); see {result.output / 'DATA_CARD.md'}")
