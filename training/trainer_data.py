"""Training data for the fine-tuner: loading, tokenising, length-bucketed batches.

The corpus is the ``datasets.DatasetDict`` written by ``civility build-data`` (splits
``train``/``validation``/``test``; columns ``id``, ``text``, ``corpus``, ``group``,
``weight`` and one nullable float column per label, None = not annotated). Hand or
moderator labels in JSONL (``{"id", "text", "labels", "source", "context"}``) can be
appended to the train split, or turned into a small DatasetDict of their own.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    import torch
    from datasets import Dataset, DatasetDict
    from transformers import PreTrainedTokenizerBase

SPLITS = ("train", "validation", "test")
BASE_COLUMNS = ("id", "text", "corpus", "group", "weight")


class TrainingDataError(Exception):
    """Training data is missing or does not follow the corpus contract."""


class LabelRecord(BaseModel):
    """One line of a hand/moderator label file."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(min_length=1)
    text: str = Field(min_length=1)
    labels: dict[str, float]
    source: str = "hand"
    context: Any = None


def read_label_records(path: Path, label_set: Sequence[str]) -> list[LabelRecord]:
    """Parse and validate a label JSONL file; unknown labels or values outside [0, 1] are errors."""
    if not path.is_file():
        raise TrainingDataError(f"label file {path} not found")
    known = set(label_set)
    records: list[LabelRecord] = []
    with path.open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = LabelRecord.model_validate(json.loads(line))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise TrainingDataError(f"{path}:{lineno}: not a valid label record: {exc}") from exc
            unknown = sorted(set(record.labels) - known)
            if unknown:
                raise TrainingDataError(f"{path}:{lineno}: unknown labels {unknown}; known: {sorted(known)}")
            bad = {k: v for k, v in record.labels.items() if not 0.0 <= v <= 1.0}
            if bad:
                raise TrainingDataError(f"{path}:{lineno}: label values must be in [0, 1], got {bad}")
            records.append(record)
    if not records:
        raise TrainingDataError(f"label file {path} has no records")
    return records


def records_to_columns(
    records: Sequence[LabelRecord], label_set: Sequence[str], weight: float
) -> dict[str, list[Any]]:
    """Columns in the corpus schema; labels a record does not mention stay None (masked)."""
    columns: dict[str, list[Any]] = {name: [] for name in (*BASE_COLUMNS, *label_set)}
    for record in records:
        columns["id"].append(record.id)
        columns["text"].append(record.text)
        columns["corpus"].append(record.source)
        columns["group"].append(record.id)
        columns["weight"].append(weight)
        for label in label_set:
            columns[label].append(record.labels.get(label))
    return columns


def _features(label_set: Sequence[str]) -> Any:
    from datasets import Features, Value

    spec = {name: Value("string") for name in ("id", "text", "corpus", "group")}
    spec["weight"] = Value("float32")
    spec.update({label: Value("float32") for label in label_set})
    return Features(spec)


def records_dataset(records: Sequence[LabelRecord], label_set: Sequence[str], weight: float) -> Dataset:
    from datasets import Dataset

    return Dataset.from_dict(records_to_columns(records, label_set, weight), features=_features(label_set))


def dataset_from_label_file(
    path: Path, label_set: Sequence[str], *, holdout_fraction: float, seed: int
) -> DatasetDict:
    """A small DatasetDict from one label file: a seeded shuffle, ``holdout_fraction`` held out.

    The held-out rows form ``validation``; ``test`` is the same rows (a label file this small has
    no room for a third split). Meant for hand-labelled sets and tests, not for the real corpus.
    """
    from datasets import DatasetDict

    if not 0.0 < holdout_fraction < 1.0:
        raise TrainingDataError("holdout_fraction must be between 0 and 1")
    records = read_label_records(path, label_set)
    order = list(range(len(records)))
    random.Random(seed).shuffle(order)
    n_hold = max(1, round(len(records) * holdout_fraction))
    held = [records[i] for i in sorted(order[:n_hold])]
    train = [records[i] for i in sorted(order[n_hold:])]
    if not train:
        raise TrainingDataError(f"{path}: too few records to split")
    return DatasetDict(
        train=records_dataset(train, label_set, 1.0),
        validation=records_dataset(held, label_set, 1.0),
        test=records_dataset(held, label_set, 1.0),
    )


def load_corpus(data_dir: Path, label_set: Sequence[str]) -> DatasetDict:
    """Load the ``build-data`` output and check it follows the contract."""
    from datasets import DatasetDict, load_from_disk

    if not data_dir.exists():
        raise TrainingDataError(f"training data {data_dir} not found (run `civility build-data` first)")
    try:
        loaded = load_from_disk(str(data_dir))
    except (FileNotFoundError, ValueError) as exc:
        raise TrainingDataError(f"{data_dir} is not a saved datasets.DatasetDict: {exc}") from exc
    if not isinstance(loaded, DatasetDict):
        raise TrainingDataError(f"{data_dir} holds a single Dataset; expected splits {SPLITS}")
    check_corpus(loaded, label_set, where=str(data_dir))
    return loaded


def check_corpus(corpus: DatasetDict, label_set: Sequence[str], *, where: str) -> None:
    for split in ("train", "validation"):
        if split not in corpus:
            raise TrainingDataError(f"{where}: split {split!r} is missing (have {list(corpus)})")
        missing = [c for c in (*BASE_COLUMNS, *label_set) if c not in corpus[split].column_names]
        if missing:
            raise TrainingDataError(f"{where}: split {split!r} lacks columns {missing}")
        if len(corpus[split]) == 0:
            raise TrainingDataError(f"{where}: split {split!r} is empty")


def hold_out_corpora(corpus: DatasetDict, names: Sequence[str]) -> DatasetDict:
    """``corpus`` without the rows of the ``names`` corpora in any split the training run reads.

    A held-out corpus stands in for a site the model has never seen: it is neither trained on nor used
    for early stopping or calibration, so ``civility evaluate`` on its rows measures generalisation to a
    new site. Test rows are kept (training never reads them).
    """
    from datasets import DatasetDict

    if not names:
        return corpus
    known = {str(name) for split in corpus.values() for name in split.unique("corpus")}
    unknown = sorted(set(names) - known)
    if unknown:
        raise TrainingDataError(f"--hold-out: no such corpus in the data: {unknown} (have {sorted(known)})")
    held = set(names)
    out = {}
    for split, ds in corpus.items():
        if split in ("train", "validation"):
            ds = ds.filter(lambda batch: [c not in held for c in batch["corpus"]], batched=True)
        out[split] = ds
    kept = DatasetDict(out)
    for split in ("train", "validation"):
        if len(kept[split]) == 0:
            raise TrainingDataError(f"--hold-out leaves split {split!r} empty")
    return kept


def append_rows(train: Dataset, extra: Dataset, label_set: Sequence[str]) -> Dataset:
    """``train`` followed by ``extra`` (cast to the same schema)."""
    from datasets import concatenate_datasets

    columns = [*BASE_COLUMNS, *label_set]
    features = _features(label_set)
    base = train.select_columns(columns).cast(features)
    return concatenate_datasets([base, extra.select_columns(columns).cast(features)])


@dataclass
class Encoded:
    """A tokenised split: token ids per row, soft targets (NaN = missing), row weights, corpus."""

    input_ids: list[np.ndarray]
    targets: np.ndarray
    weights: np.ndarray
    corpus: list[str]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(ids) for ids in self.input_ids), dtype=np.int64, count=len(self.input_ids))

    def subset(self, index: np.ndarray) -> Encoded:
        return Encoded(
            input_ids=[self.input_ids[i] for i in index],
            targets=self.targets[index],
            weights=self.weights[index],
            corpus=[self.corpus[i] for i in index],
        )


def label_matrix(ds: Dataset, label_set: Sequence[str]) -> np.ndarray:
    """(rows, labels) float32; missing labels are NaN."""
    frame = ds.select_columns(list(label_set)).to_pandas()
    return np.asarray(frame.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float32)


def encode(
    ds: Dataset, tokenizer: PreTrainedTokenizerBase, label_set: Sequence[str], max_length: int
) -> Encoded:
    texts = list(ds["text"])
    ids = tokenizer(
        texts,
        truncation=True,
        max_length=max_length,
        return_attention_mask=False,
        return_token_type_ids=False,
    )["input_ids"]
    weights = np.asarray(ds["weight"], dtype=np.float32)
    weights = np.where(np.isfinite(weights), weights, 1.0).astype(np.float32)
    return Encoded(
        input_ids=[np.asarray(x, dtype=np.int64) for x in ids],
        targets=label_matrix(ds, label_set),
        weights=weights,
        corpus=[str(c) for c in ds["corpus"]],
    )


def bucketed_batches(lengths: np.ndarray, batch_size: int, chunk_batches: int, seed: int) -> list[np.ndarray]:
    """One epoch of batches: shuffle, sort by length within chunks, then shuffle the batch order.

    Deterministic in ``seed``, so a resumed run can rebuild the same epoch and skip what it has done.
    """
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    chunk = batch_size * chunk_batches
    batches: list[np.ndarray] = []
    for start in range(0, len(order), chunk):
        part = order[start : start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches.extend(part[i : i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Inference batches of similar length (the caller restores the original order)."""
    order = np.argsort(lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(
    encoded: Encoded, index: np.ndarray, pad_id: int, device: torch.device
) -> dict[str, torch.Tensor]:
    """Dynamically padded tensors for the rows in ``index``."""
    import torch

    rows = [encoded.input_ids[i] for i in index]
    width = max(len(r) for r in rows)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return {
        "input_ids": torch.from_numpy(ids).to(device),
        "attention_mask": torch.from_numpy(mask).to(device),
        "token_type_ids": torch.zeros_like(torch.from_numpy(ids)).to(device),
    }


def positive_prevalence(targets: np.ndarray) -> np.ndarray:
    """Mean soft target per label over annotated rows (NaN where a label has no data)."""
    annotated = np.isfinite(targets)
    counts = annotated.sum(axis=0)
    sums = np.where(annotated, targets, 0.0).sum(axis=0)
    return np.divide(sums, counts, out=np.full(targets.shape[1], np.nan), where=counts > 0)
