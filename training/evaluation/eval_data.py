"""Labelled evaluation data: a CSV/JSONL/Parquet file or a split of a built corpus.

- A file has a ``text`` column and label columns named as in ``configs/labels.yaml`` (values in
  [0, 1], soft allowed; a missing column or an empty cell = not annotated). An optional ``corpus``
  column groups rows for the per-corpus tables. JSONL rows in the hand/moderator label format
  (``{"text", "labels": {label: value}}``) are accepted too.
- ``DIR:SPLIT`` names a split of a ``datasets.DatasetDict`` saved with ``save_to_disk``
  (``civility build-data`` output: nullable label columns and a ``corpus`` column).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FILE_SUFFIXES = (".csv", ".jsonl", ".json", ".parquet")


class EvalDataError(ValueError):
    """The evaluation data cannot be found or read, or is malformed."""


@dataclass
class EvalData:
    """Texts and (n, n_labels) targets in ``labels`` order; NaN = the label is not annotated."""

    source: str
    texts: list[str]
    targets: np.ndarray
    labels: list[str]
    corpora: list[str] | None = None

    def __post_init__(self) -> None:
        if self.targets.shape != (len(self.texts), len(self.labels)):
            raise EvalDataError(
                f"targets {self.targets.shape} do not match {len(self.texts)} texts x {self.labels}"
            )

    def annotated_counts(self) -> dict[str, int]:
        return {label: int(np.isfinite(self.targets[:, j]).sum()) for j, label in enumerate(self.labels)}

    def corpus_counts(self) -> dict[str, int]:
        if self.corpora is None:
            return {}
        names, counts = np.unique(np.asarray(self.corpora, dtype=object).astype(str), return_counts=True)
        return {str(n): int(c) for n, c in zip(names, counts, strict=True)}

    def sample(self, limit: int, seed: int = 0) -> EvalData:
        """A reproducible random subset of at most ``limit`` rows (original order kept)."""
        if limit >= len(self.texts):
            return self
        keep = np.sort(np.random.default_rng(seed).choice(len(self.texts), size=limit, replace=False))
        return EvalData(
            source=f"{self.source} (random {limit} of {len(self.texts)} rows, seed {seed})",
            texts=[self.texts[i] for i in keep],
            targets=self.targets[keep],
            labels=self.labels,
            corpora=[self.corpora[i] for i in keep] if self.corpora is not None else None,
        )


def _from_frame(frame: Any, labels: Sequence[str], source: str) -> EvalData:
    import pandas as pd

    if "labels" in frame.columns and frame["labels"].map(lambda v: isinstance(v, dict)).any():
        nested = pd.DataFrame([v if isinstance(v, dict) else {} for v in frame["labels"]], index=frame.index)
        frame = pd.concat(
            [frame.drop(columns=["labels"]), nested[[c for c in nested if c not in frame]]], axis=1
        )
    if "text" not in frame.columns:
        raise EvalDataError(f"{source}: no 'text' column (columns: {list(frame.columns)})")
    if len(frame) == 0:
        raise EvalDataError(f"{source}: no rows")
    bad_text = frame["text"].map(lambda v: not isinstance(v, str) or not v.strip())
    if bad_text.any():
        rows = [int(i) for i in np.flatnonzero(bad_text.to_numpy())[:5]]
        raise EvalDataError(
            f"{source}: {int(bad_text.sum())} rows with empty or non-text 'text' (first rows {rows})"
        )
    present = [label for label in labels if label in frame.columns]
    if not present:
        raise EvalDataError(
            f"{source}: none of the label columns {list(labels)} is present (columns: {list(frame.columns)})"
        )
    targets = np.full((len(frame), len(labels)), np.nan)
    for j, label in enumerate(labels):
        if label not in frame.columns:
            continue
        column = frame[label]
        if column.dtype == bool or column.dtype == object:
            column = column.map(lambda v: float(v) if isinstance(v, bool) else v)
        values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
        unparsable = np.isnan(values) & column.notna().to_numpy()
        if unparsable.any():
            example = column[unparsable].iloc[0]
            raise EvalDataError(f"{source}: column {label!r} has non-numeric values such as {example!r}")
        out_of_range = np.isfinite(values) & ((values < 0) | (values > 1))
        if out_of_range.any():
            raise EvalDataError(
                f"{source}: column {label!r} has values outside [0, 1] such as {values[out_of_range][0]!r}"
            )
        targets[:, j] = values
    corpora = [str(c) for c in frame["corpus"]] if "corpus" in frame.columns else None
    return EvalData(source, [str(t) for t in frame["text"]], targets, list(labels), corpora)


def _read_file(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return pd.read_csv(path, dtype={"text": str, "corpus": str}, keep_default_na=True)
        if suffix in (".jsonl", ".json"):
            rows = []
            with path.open(encoding="utf-8") as fh:
                for number, line in enumerate(fh, start=1):
                    if line.strip():
                        try:
                            row = json.loads(line)
                        except json.JSONDecodeError as exc:
                            raise EvalDataError(f"{path}:{number}: not valid JSON ({exc.msg})") from None
                        if not isinstance(row, dict):
                            raise EvalDataError(f"{path}:{number}: expected a JSON object per line")
                        rows.append(row)
            return pd.DataFrame(rows)
        return pd.read_parquet(path)
    except EvalDataError:
        raise
    except UnicodeDecodeError as exc:
        raise EvalDataError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except (ValueError, OSError) as exc:  # pandas parser errors are ValueErrors
        raise EvalDataError(f"{path}: cannot read as {suffix[1:]}: {exc}") from None


def _load_split(directory: Path, split: str, labels: Sequence[str], source: str) -> EvalData:
    from datasets import load_from_disk

    if not (directory / "dataset_dict.json").is_file():
        raise EvalDataError(
            f"{directory} is not a saved DatasetDict (no dataset_dict.json); run civility build-data"
        )
    splits = load_from_disk(str(directory))
    if split not in splits:
        raise EvalDataError(f"{directory} has no split {split!r} (splits: {sorted(splits)})")
    return _from_frame(splits[split].to_pandas(), labels, source)


def load_eval_data(spec: str, labels: Sequence[str]) -> EvalData:
    """Load ``FILE`` (CSV/JSONL/Parquet) or ``DIR:SPLIT`` (a built corpus split)."""
    path = Path(spec)
    if path.is_file():
        if path.suffix.lower() not in FILE_SUFFIXES:
            raise EvalDataError(
                f"{path}: unsupported file type {path.suffix!r} (use {', '.join(FILE_SUFFIXES)})"
            )
        return _from_frame(_read_file(path), labels, str(path))
    if path.is_dir():
        raise EvalDataError(f"{path} is a directory: name a split, e.g. {path}:validation")
    if ":" in spec:
        directory, split = spec.rsplit(":", 1)
        if Path(directory).is_dir() and split:
            return _load_split(Path(directory), split, labels, spec)
    raise EvalDataError(f"evaluation data not found: {spec!r} (a CSV/JSONL/Parquet file or DIR:SPLIT)")
