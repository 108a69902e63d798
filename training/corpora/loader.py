"""Loading one corpus through its mapping file into Civility's row schema.

Output columns: ``id``, ``text``, ``corpus``, ``group``, ``split_hint`` (``auto`` or an official
split), and one float column per project label (NaN = the corpus does not annotate it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from civility.model.labels import label_ids
from civility.training.corpora.readers import read_file, read_table, text_decoder
from civility.training.corpora.rules import apply_rule
from civility.training.corpora.spec import CorpusSpec, JoinSpec, MappingError

BASE_COLUMNS = ["id", "text", "corpus", "group", "split_hint"]


def _clean_text(values: pd.Series) -> pd.Series:
    return values.map(lambda v: "" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v).strip())


def _group_values(frame: pd.DataFrame, spec: CorpusSpec, row_ids: pd.Series) -> pd.Series:
    if spec.group is None:
        return spec.name + ":" + row_ids
    columns = [spec.group] if isinstance(spec.group, str) else spec.group
    group = pd.Series(np.nan, index=frame.index, dtype=object)
    for column in columns:
        if column not in frame.columns:
            raise MappingError(f"{spec.name}: group column {column!r} not found")
        values = frame[column].map(lambda v: None if pd.isna(v) or str(v).strip() == "" else str(v).strip())
        group = group.where(group.notna(), values)
    if spec.group_pattern:
        extracted = group.astype(str).str.extract(spec.group_pattern, expand=False)
        group = extracted.where(extracted.notna(), group)
    group = group.where(group.notna(), row_ids)
    return spec.name + ":" + group.astype(str)


def _apply_join(
    frame: pd.DataFrame, path: Path, join: JoinSpec, spec: CorpusSpec, where: str
) -> pd.DataFrame:
    """Overlay corrected columns from ``join.path`` onto ``frame`` (matched on ``join.key``)."""
    table = read_table(path, spec)
    missing = [c for c in [join.key, *join.columns] if c not in table.columns]
    if join.key not in frame.columns or missing:
        raise MappingError(f"{where}: join on {join.key!r} needs {missing or [join.key]} in both files")
    keys = frame[join.key].astype(str).str.strip()
    lookup = (
        table.assign(_key=table[join.key].astype(str).str.strip()).drop_duplicates("_key").set_index("_key")
    )
    out = frame.copy()
    for source, target in join.columns.items():
        corrected = keys.map(lookup[source])
        out[target] = corrected.where(corrected.notna(), out.get(target))
    return out


def load_file(spec: CorpusSpec, root: Path, file_index: int) -> pd.DataFrame:
    """Load and map one declared file of ``spec`` (under the datasets ``root`` unless it ships in configs)."""
    file = spec.files[file_index]
    base = spec.base_dir(root)
    frame = read_file(base / file.path, spec, file).reset_index(drop=True)
    where = f"{spec.name}/{file.path}"
    if file.join is not None:
        frame = _apply_join(frame, base / file.join.path, file.join, spec, where)
    text_column = file.text or spec.text
    if text_column not in frame.columns:
        raise MappingError(
            f"{where}: text column {text_column!r} not found; columns are {list(frame.columns)}"
        )
    decode = text_decoder(spec.text_decoder)
    text = _clean_text(frame[text_column])
    if decode is not None:
        text = text.map(decode).map(str.strip)
    stem = Path(file.path).stem
    if spec.id is not None and spec.id in frame.columns:
        local = frame[spec.id].astype(str).str.strip()
    else:
        local = pd.Series(frame.index.astype(str), index=frame.index)
    row_ids = stem + ":" + local
    out = pd.DataFrame(
        {
            "id": spec.name + ":" + row_ids,
            "text": text,
            "corpus": spec.name,
            "group": _group_values(frame, spec, row_ids),
        }
    )
    if file.split_column is not None:
        if file.split_column not in frame.columns:
            raise MappingError(f"{where}: split column {file.split_column!r} not found")
        out["split_hint"] = frame[file.split_column].astype(str)
    else:
        out["split_hint"] = file.split
    rules = spec.rules_for(file)
    for label in label_ids():
        rule = rules.get(label)
        out[label] = np.nan if rule is None else apply_rule(frame, rule, f"{where} -> {label}").to_numpy()
    keep = out["text"].str.len() > 0
    if spec.drop_texts:
        keep &= ~out["text"].isin(spec.drop_texts)
    keep &= out[label_ids()].notna().any(axis=1)
    return out[keep].reset_index(drop=True)


def load_corpus(spec: CorpusSpec, root: Path) -> pd.DataFrame:
    """All files of one corpus, mapped; rows with no text or no annotated label are dropped."""
    frames = [load_file(spec, root, i) for i in range(len(spec.files))]
    frame = pd.concat(frames, ignore_index=True)
    duplicated = frame["id"].duplicated()
    if duplicated.any():
        raise MappingError(
            f"{spec.name}: duplicate row ids, e.g. {frame.loc[duplicated, 'id'].head(3).tolist()}"
        )
    return frame
