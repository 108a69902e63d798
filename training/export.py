"""Export a finished training run as an immutable model bundle.

``export_bundle(run_dir, output_root, ...)`` writes ``<output_root>/<name>/<version>/`` with
``tokenizer/`` (the base encoder's tokenizer files), the weights and ``manifest.json``:

- ``format="lora"``: ``adapter/`` (fp16 safetensors + adapter_config.json, ~1-2 MB), materialised
  to ONNX on first use by ``civility.model.materialize``;
- ``format="onnx"``: ``model.fp32.onnx`` and ``model.int8.onnx`` (~90 + ~23 MB), ready to serve.

Either way the int8 quantisation variant is chosen here, on held-out rows: the first variant in
the recipe's ``export.quantization_variants`` whose per-label ROC-AUC stays within
``export.max_auc_drop`` of fp32 (else the one with the smallest drop, flagged
``within_tolerance: false``). The agreement reports go into ``manifest.metrics["quantization"]``.

A run directory holds what export needs (written by ``civility train``): ``config.json``,
``best/`` (adapter), ``calibration.json``, ``heldout.npz`` (token ids + targets of held-out rows),
``data_sources.json`` and ``train_result.json``.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from civility.model.bundle import Calibration, DataSource, Manifest, Weights, verify_bundle, write_manifest
from civility.model.materialize import (
    FP32_NAME,
    INT8_NAME,
    agreement_report,
    export_onnx,
    load_merged_classifier,
    onnx_logits,
    quantize,
)
from civility.training.calibrate import apply_calibration
from civility.training.lora import BASE_MODEL_NAME, base_model_path
from civility.training.train import BEST_DIR, CONFIG, RESULT
from civility.training.train_config import TrainConfig

CALIBRATION_FILE = "calibration.json"
HELDOUT_FILE = "heldout.npz"
SOURCES_FILE = "data_sources.json"
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.txt")
ADAPTER_FILES = ("adapter_model.safetensors", "adapter_config.json")

BundleFormat = Literal["lora", "onnx"]


class ExportError(Exception):
    """The run cannot be exported (missing artefacts, or the version already exists)."""


@dataclass
class Heldout:
    """Held-out rows kept with a run: token ids and soft targets (NaN = missing)."""

    input_ids: list[np.ndarray]
    targets: np.ndarray

    def save(self, path: Path) -> None:
        lengths = np.array([len(x) for x in self.input_ids], dtype=np.int64)
        flat = np.concatenate(self.input_ids) if self.input_ids else np.zeros(0, dtype=np.int64)
        np.savez_compressed(path, flat=flat.astype(np.int32), lengths=lengths, targets=self.targets)

    @classmethod
    def load(cls, path: Path) -> Heldout:
        with np.load(path) as data:
            bounds = np.cumsum(data["lengths"])[:-1]
            ids = [np.asarray(x, dtype=np.int64) for x in np.split(data["flat"], bounds)]
            return cls(input_ids=ids, targets=np.asarray(data["targets"], dtype=np.float32))


def read_data_sources(data_dir: Path | None) -> list[DataSource]:
    """Corpora and licences from the data card's ``stats.json`` (empty when there is none)."""
    if data_dir is None or not (data_dir / "stats.json").is_file():
        return []
    stats = json.loads((data_dir / "stats.json").read_text(encoding="utf-8"))
    corpora = stats.get("corpora", {}) if isinstance(stats, dict) else {}
    sources = []
    for name, info in corpora.items():
        sources.append(
            DataSource(
                name=str(name),
                rows=int(info.get("total_rows", 0)),
                license=str(info.get("license") or "unknown"),
                note=str(info.get("note") or ""),
            )
        )
    return sources


def _copy_tokenizer(dest: Path) -> None:
    dest.mkdir(parents=True)
    base = base_model_path()
    for name in TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copy2(base / name, dest / name)
    if not (dest / "tokenizer.json").is_file():
        raise ExportError(f"the base model at {base} has no tokenizer.json")


def _copy_adapter(source: Path, dest: Path) -> None:
    missing = [name for name in ADAPTER_FILES if not (source / name).is_file()]
    if missing:
        raise ExportError(f"{source} lacks adapter files {missing}; did training finish?")
    dest.mkdir(parents=True)
    shutil.copy2(source / "adapter_model.safetensors", dest / "adapter_model.safetensors")
    config = json.loads((source / "adapter_config.json").read_text(encoding="utf-8"))
    config["base_model_name_or_path"] = BASE_MODEL_NAME  # not this machine's site-packages path
    (dest / "adapter_config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def choose_quantization(
    adapter_dir: Path,
    config: TrainConfig,
    labels: list[str],
    heldout: Heldout,
    calibration: dict[str, Calibration],
    thresholds: dict[str, float],
    work_dir: Path,
) -> tuple[dict[str, Path], dict[str, Any]]:
    """Export fp32 ONNX, try the recipe's int8 variants, keep the first within AUC tolerance."""
    model = load_merged_classifier(adapter_dir, labels)
    fp32 = export_onnx(model, work_dir / FP32_NAME)
    rows = min(len(heldout.input_ids), config.export.agreement_rows)
    ids, targets = heldout.input_ids[:rows], heldout.targets[:rows]
    fp32_logits = onnx_logits(fp32, ids, threads=config.threads)

    def calibrate(label: str, logits: np.ndarray) -> np.ndarray:
        return apply_calibration(calibration[label], logits)

    reports: dict[str, Any] = {}
    chosen: str | None = None
    for variant in config.export.quantization_variants:
        int8 = quantize(fp32, work_dir / f"{variant}.onnx", variant)
        report = agreement_report(
            labels,
            fp32_logits,
            onnx_logits(int8, ids, threads=config.threads),
            targets,
            thresholds,
            calibrate,
            min_positives=config.export.agreement_min_positives,
        )
        report["size_mb"] = round(int8.stat().st_size / 2**20, 2)
        reports[variant] = report
        drop = report["max_auc_drop"]
        if drop is None or drop <= config.export.max_auc_drop:
            chosen = variant
            break
    within = chosen is not None
    if chosen is None:
        chosen = min(reports, key=lambda v: reports[v]["max_auc_drop"])
    shutil.move(work_dir / f"{chosen}.onnx", work_dir / INT8_NAME)
    record = {
        "variant": chosen,
        "max_auc_drop_allowed": config.export.max_auc_drop,
        "within_tolerance": within,
        "agreement": reports,
    }
    return {"onnx_fp32": fp32, "onnx_int8": work_dir / INT8_NAME}, record


def export_bundle(
    run_dir: Path,
    output_root: Path,
    *,
    fmt: BundleFormat | None = None,
    name: str | None = None,
    version: str | None = None,
    data_dir: Path | None = None,
) -> Path:
    """Write the bundle for a finished run and return its directory (refuses to overwrite a version)."""
    config = TrainConfig.model_validate_json(_read(run_dir / CONFIG))
    fmt = fmt or config.export.format
    name = name or config.bundle.name
    version = version or config.bundle.version
    calibration_data = json.loads(_read(run_dir / CALIBRATION_FILE))
    labels: list[str] = calibration_data["labels"]
    calibration = {k: Calibration.model_validate(v) for k, v in calibration_data["calibration"].items()}
    thresholds: dict[str, float] = calibration_data["thresholds"]
    train_result = json.loads(_read(run_dir / RESULT))
    heldout = Heldout.load(run_dir / HELDOUT_FILE)
    sources = [DataSource.model_validate(s) for s in json.loads(_read(run_dir / SOURCES_FILE))]
    if data_dir is not None:
        sources = read_data_sources(data_dir) or sources

    final = output_root / name / version
    if final.exists():
        raise ExportError(f"bundle {name}@{version} already exists at {final}; versions are immutable")
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-staging-", dir=final.parent))
    try:
        _copy_tokenizer(staging / "tokenizer")
        _copy_adapter(run_dir / BEST_DIR, staging / "adapter")
        with tempfile.TemporaryDirectory(prefix="civility-onnx-") as work:
            onnx_paths, quantization = choose_quantization(
                staging / "adapter", config, labels, heldout, calibration, thresholds, Path(work)
            )
            if fmt == "onnx":
                shutil.rmtree(staging / "adapter")
                shutil.copy2(onnx_paths["onnx_fp32"], staging / FP32_NAME)
                shutil.copy2(onnx_paths["onnx_int8"], staging / INT8_NAME)
                weights = Weights(
                    format="onnx", onnx_fp32=FP32_NAME, onnx_int8=INT8_NAME, base_model=BASE_MODEL_NAME
                )
            else:
                weights = Weights(format="lora", adapter_dir="adapter", base_model=BASE_MODEL_NAME)
        metrics = {
            "training": {
                k: train_result[k]
                for k in ("final_step", "best_step", "best_auc", "stop_reason", "elapsed_s", "examples_seen")
            },
            "calibration": calibration_data["metrics"],
            "quantization": quantization,
        }
        manifest = Manifest(
            name=name,
            version=version,
            created=datetime.now(UTC),
            description=config.bundle.description,
            base_model=BASE_MODEL_NAME,
            labels=labels,
            max_length=config.data.max_length,
            weights=weights,
            calibration=calibration,
            thresholds=thresholds,
            precision_target=config.calibration.precision_target,
            training_data=sources,
            metrics=metrics,
        )
        write_manifest(staging, manifest)
        verify_bundle(staging)
        if final.exists():
            raise ExportError(f"bundle {name}@{version} appeared at {final} during export; not overwriting")
        staging.rename(final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return final


def _read(path: Path) -> str:
    if not path.is_file():
        raise ExportError(f"{path} is missing: is this a finished `civility train` run directory?")
    return path.read_text(encoding="utf-8")
