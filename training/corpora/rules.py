"""Applying a :class:`LabelRule` to a corpus frame: one float column in [0, 1], NaN = missing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from civility.training.corpora.spec import Condition, LabelRule, MappingError, key_text


def _require(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    if column not in frame.columns:
        raise MappingError(f"{where}: column {column!r} not found; columns are {list(frame.columns)}")
    return frame[column]


def _numeric(series: pd.Series) -> pd.Series:
    if series.dtype == bool:
        return series.astype(float)
    lowered = series.map(lambda v: v.strip().lower() if isinstance(v, str) else v)
    lowered = lowered.replace({"true": 1.0, "false": 0.0})
    return pd.to_numeric(lowered, errors="coerce").astype(float)


def _keys(series: pd.Series) -> pd.Series:
    return series.map(lambda v: None if v is None or (isinstance(v, float) and np.isnan(v)) else key_text(v))


def _condition_mask(frame: pd.DataFrame, condition: Condition, where: str) -> pd.Series:
    values = _require(frame, condition.column, where)
    mask = pd.Series(True, index=frame.index)
    if condition.values is not None:
        wanted = {key_text(v) for v in condition.values}
        mask &= _keys(values).isin(wanted)
    if condition.min is not None or condition.max is not None:
        numbers = _numeric(values)
        if condition.min is not None:
            mask &= numbers >= condition.min
        if condition.max is not None:
            mask &= numbers <= condition.max
    return mask.fillna(False).astype(bool)


def apply_rule(frame: pd.DataFrame, rule: LabelRule, where: str = "label") -> pd.Series:
    """Evaluate ``rule`` on every row of ``frame``; returns floats in [0, 1] with NaN for missing."""
    if rule.cases is not None:
        result = pd.Series(np.nan, index=frame.index, dtype=float)
        for i, case in enumerate(rule.cases):
            result = result.fillna(apply_rule(frame, case, f"{where} case {i + 1}"))
    elif rule.constant is not None:
        result = pd.Series(rule.constant, index=frame.index, dtype=float)
    else:
        result = _transform(frame, rule, where)
    if rule.invert:
        result = 1.0 - result
    if rule.where:
        keep = pd.Series(True, index=frame.index)
        for condition in rule.where:
            keep &= _condition_mask(frame, condition, where)
        fallback = np.nan if rule.otherwise is None else rule.otherwise
        result = result.where(keep, fallback)
    bad = result.notna() & ((result < 0.0) | (result > 1.0))
    if bad.any():
        examples = result[bad].head(3).tolist()
        raise MappingError(f"{where}: values outside [0, 1] (e.g. {examples}); add a transform to the rule")
    return result.astype(float)


def _transform(frame: pd.DataFrame, rule: LabelRule, where: str) -> pd.Series:
    columns = [rule.column] if isinstance(rule.column, str) else list(rule.column or [])
    raw = [_require(frame, column, where) for column in columns]
    if rule.value_map is not None:
        mapping = rule.value_map
        default = np.nan if rule.default is None else rule.default
        mapped = [
            _keys(series).map(lambda k: default if k is None else mapping.get(k, default)) for series in raw
        ]
        return pd.concat(mapped, axis=1).astype(float).max(axis=1, skipna=True)
    values = pd.concat([_numeric(series) for series in raw], axis=1).max(axis=1, skipna=True)
    if rule.denominator is not None:
        denominator = _numeric(_require(frame, rule.denominator, where))
        values = values / denominator.where(denominator > 0)
    if rule.threshold is not None:
        return (values >= rule.threshold).astype(float).where(values.notna())
    if rule.rescale is not None:
        low, high = rule.rescale
        return ((values - low) / (high - low)).clip(0.0, 1.0)
    if rule.confidence is not None:
        confidence = _numeric(_require(frame, rule.confidence, where)).clip(0.0, 1.0)
        positive = values >= 0.5
        return confidence.where(positive, 1.0 - confidence).where(values.notna() & confidence.notna())
    return values
