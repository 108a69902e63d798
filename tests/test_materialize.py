"""Materialising a LoRA bundle to ONNX: agreement with PyTorch, caching, the subprocess entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from civility.model.bundle import bundle_digest, verify_bundle
from civility.model.materialize import (
    FP32_NAME,
    INT8_NAME,
    agreement_report,
    materialize,
    onnx_logits,
)

TEXTS = [
    "Thanks for the clear explanation of the budget.",
    "You are a pathetic idiot and everyone here knows it.",
    "I will find you and hurt you.",
    "what a fucking brilliant goal",
    "ok",
]


@pytest.fixture(scope="module")
def materialized(dev_lora_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return materialize(dev_lora_bundle, tmp_path_factory.mktemp("cache"))


def _token_ids(bundle: Path) -> list[np.ndarray]:
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(bundle / "tokenizer" / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(48)
    return [np.array(enc.ids, dtype=np.int64) for enc in tokenizer.encode_batch(TEXTS)]


def test_materialized_files_live_under_the_bundle_digest(
    dev_lora_bundle: Path, materialized: dict[str, Path]
) -> None:
    digest = bundle_digest(verify_bundle(dev_lora_bundle))
    assert materialized["onnx_fp32"].name == FP32_NAME and materialized["onnx_int8"].name == INT8_NAME
    assert materialized["onnx_fp32"].parent.name == digest
    assert materialized["onnx_fp32"].parent.parent.name == "onnx"
    assert not [p for p in materialized["onnx_fp32"].parent.parent.iterdir() if p.name.startswith(".staging")]


def test_second_call_uses_the_cache(dev_lora_bundle: Path, materialized: dict[str, Path]) -> None:
    stamp = materialized["onnx_int8"].stat().st_mtime_ns
    cache_dir = materialized["onnx_int8"].parent.parent.parent
    again = materialize(dev_lora_bundle, cache_dir)
    assert again == materialized
    assert again["onnx_int8"].stat().st_mtime_ns == stamp


def test_fp32_onnx_agrees_with_the_pytorch_model(
    dev_lora_bundle: Path, materialized: dict[str, Path]
) -> None:
    import torch
    from peft import PeftModel

    from civility.model.materialize import load_base_classifier

    manifest = verify_bundle(dev_lora_bundle)
    ids = _token_ids(dev_lora_bundle)
    onnx_out = onnx_logits(materialized["onnx_fp32"], ids)
    model = PeftModel.from_pretrained(load_base_classifier(manifest.labels), str(dev_lora_bundle / "adapter"))
    model.eval()
    with torch.no_grad():
        torch_out = np.concatenate(
            [
                model(
                    input_ids=torch.from_numpy(x)[None],
                    attention_mask=torch.ones(1, len(x), dtype=torch.long),
                    token_type_ids=torch.zeros(1, len(x), dtype=torch.long),
                ).logits.numpy()
                for x in ids
            ]
        )
    np.testing.assert_allclose(onnx_out, torch_out, atol=1e-4, rtol=0)
    torch_probs, onnx_probs = 1 / (1 + np.exp(-torch_out)), 1 / (1 + np.exp(-onnx_out))
    assert np.abs(torch_probs - onnx_probs).max() < 1e-4


def test_int8_stays_close_to_fp32(dev_lora_bundle: Path, materialized: dict[str, Path]) -> None:
    manifest = verify_bundle(dev_lora_bundle)
    ids = _token_ids(dev_lora_bundle)
    fp32 = onnx_logits(materialized["onnx_fp32"], ids)
    int8 = onnx_logits(materialized["onnx_int8"], ids)
    targets = np.zeros_like(fp32)
    targets[1, :3] = 1.0
    report = agreement_report(
        manifest.labels, fp32, int8, targets, manifest.thresholds, lambda _label, z: 1 / (1 + np.exp(-z))
    )
    assert report["rows"] == len(TEXTS)
    assert 0.0 <= report["mean_prob_diff"] <= report["max_prob_diff"] < 0.25
    assert report["decisions"] == len(TEXTS) * len(manifest.labels)
    assert set(report["labels"]) == set(manifest.labels)


def test_onnx_bundles_are_served_from_the_bundle(dev_bundle: Path, tmp_path: Path) -> None:
    paths = materialize(dev_bundle, tmp_path)
    assert paths == {"onnx_fp32": dev_bundle / FP32_NAME, "onnx_int8": dev_bundle / INT8_NAME}
    assert not (tmp_path / "onnx").exists()


def test_subprocess_entry_point(dev_lora_bundle: Path, materialized: dict[str, Path]) -> None:
    cache_dir = materialized["onnx_int8"].parent.parent.parent
    done = subprocess.run(
        [sys.executable, "-m", "civility.model.materialize", str(dev_lora_bundle), str(cache_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {k: str(v) for k, v in materialized.items()}


def test_subprocess_reports_a_bad_bundle_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "civility.model.materialize", str(tmp_path), str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "manifest.json is missing" in done.stderr
    assert "Traceback" not in done.stderr
