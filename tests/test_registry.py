"""Registry: search path, references, versions, integrity checks on load."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from civility.model.bundle import BundleError, read_manifest, write_manifest
from civility.model.registry import SHIPPED_DIR, Registry, version_key
from civility.model.scorer import Scorer


def install(bundle: Path, root: Path, name: str, version: str, *, link: bool = False) -> Path:
    """Copy (or hard-link) a real bundle into ``root/name/version`` under a new name and version."""
    target = root / name / version
    shutil.copytree(bundle, target, copy_function=os.link if link else shutil.copy2)
    manifest = read_manifest(target).model_copy(update={"name": name, "version": version})
    (target / "manifest.json").unlink()
    write_manifest(target, manifest)
    return target


@pytest.fixture(scope="module")
def model_root(dev_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("models")
    for version in ("1.0.0", "1.2.0", "1.10.0", "2.0.0-rc1"):
        install(dev_bundle, root, "civility-default", version, link=True)
    install(dev_bundle, root, "other-model", "0.1.0", link=True)
    return root


@pytest.fixture
def registry(model_root: Path, tmp_path: Path) -> Registry:
    return Registry(roots=[(model_root, "user")], cache=tmp_path / "cache")


def test_versions_sort_semantically() -> None:
    versions = ["1.10.0", "1.2.0", "2.0.0-rc1", "1.0.0", "2.0.0"]
    assert sorted(versions, key=version_key) == ["1.0.0", "1.2.0", "1.10.0", "2.0.0-rc1", "2.0.0"]


def test_list_shows_every_bundle_newest_first(registry: Registry) -> None:
    refs = [b.ref for b in registry.list()]
    assert refs == [
        "civility-default@2.0.0-rc1",
        "civility-default@1.10.0",
        "civility-default@1.2.0",
        "civility-default@1.0.0",
        "other-model@0.1.0",
    ]
    assert all(b.source == "user" for b in registry.list())


def test_resolve_name_version_and_directory(registry: Registry, model_root: Path) -> None:
    assert registry.resolve("civility-default@1.2.0") == model_root / "civility-default" / "1.2.0"
    assert registry.resolve("other-model") == model_root / "other-model" / "0.1.0"
    assert registry.resolve(None) == model_root / "civility-default" / "2.0.0-rc1"  # highest version
    directory = model_root / "other-model" / "0.1.0"
    assert registry.resolve(str(directory)) == directory
    assert registry.resolve(directory) == directory


def test_earlier_roots_win(dev_bundle: Path, model_root: Path, tmp_path: Path) -> None:
    first = tmp_path / "first"
    install(dev_bundle, first, "other-model", "0.1.0", link=True)
    registry = Registry(roots=[(first, "user"), (model_root, "shipped")], cache=tmp_path / "cache")
    assert registry.resolve("other-model@0.1.0") == first / "other-model" / "0.1.0"


def test_environment_sets_the_user_root(model_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVILITY_MODEL_DIR", str(model_root))
    registry = Registry()
    assert registry.roots == [(model_root, "user"), (SHIPPED_DIR, "shipped")]
    assert registry.resolve("other-model").parent.parent == model_root


@pytest.mark.parametrize("ref", ["missing", "civility-default@9.9.9", "/no/such/dir", "Bad Name!"])
def test_unknown_refs_give_a_clear_error(registry: Registry, ref: str) -> None:
    with pytest.raises(BundleError, match=r"not found|not a bundle directory") as info:
        registry.resolve(ref)
    if "not found" in str(info.value):
        assert "civility-default@1.2.0" in str(info.value)  # lists what is available


def test_load_verifies_and_returns_the_requested_onnx(registry: Registry) -> None:
    loaded = registry.load("civility-default@1.0.0", "int8")
    assert loaded.precision == "int8"
    assert loaded.onnx_path.is_file() and loaded.onnx_path.suffix == ".onnx"
    assert loaded.info.manifest.ref == "civility-default@1.0.0"
    fp32 = registry.load("civility-default@1.0.0", "fp32")
    assert fp32.onnx_path != loaded.onnx_path


@pytest.fixture
def scratch(dev_bundle: Path, tmp_path: Path) -> tuple[Registry, Path]:
    root = tmp_path / "models"
    path = install(dev_bundle, root, "scratch", "1.0.0")
    return Registry(roots=[(root, "user")], cache=tmp_path / "cache"), path


def _onnx_file(path: Path) -> Path:
    manifest = read_manifest(path)
    assert manifest.weights.onnx_int8 is not None
    return path / manifest.weights.onnx_int8


def test_a_tampered_bundle_is_refused(scratch: tuple[Registry, Path]) -> None:
    registry, path = scratch
    onnx = _onnx_file(path)
    data = bytearray(onnx.read_bytes())
    data[len(data) // 2] ^= 0xFF
    onnx.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="modified or truncated"):
        registry.load("scratch")


def test_a_truncated_bundle_is_refused(scratch: tuple[Registry, Path]) -> None:
    registry, path = scratch
    onnx = _onnx_file(path)
    with onnx.open("r+b") as fh:
        fh.truncate(onnx.stat().st_size // 3)
    with pytest.raises(BundleError, match="modified or truncated"):
        registry.load("scratch")


def test_missing_and_extra_files_are_refused(scratch: tuple[Registry, Path]) -> None:
    registry, path = scratch
    (path / "notes.txt").write_text("not part of the bundle")
    with pytest.raises(BundleError, match="not in the manifest"):
        registry.load("scratch")
    (path / "notes.txt").unlink()
    tokenizer = path / "tokenizer" / "tokenizer.json"
    tokenizer.unlink()
    with pytest.raises(BundleError, match="missing files"):
        registry.load("scratch")


def test_a_broken_manifest_is_reported(scratch: tuple[Registry, Path]) -> None:
    registry, path = scratch
    (path / "manifest.json").write_text(json.dumps({"name": "scratch"}))
    assert registry.list() == []  # listing skips it ...
    with pytest.raises(BundleError, match="not a valid manifest"):
        registry.resolve("scratch@1.0.0")  # ... naming it explicitly explains why


def test_a_missing_precision_is_reported(scratch: tuple[Registry, Path]) -> None:
    registry, path = scratch
    manifest = read_manifest(path)
    assert manifest.weights.onnx_fp32 is not None
    (path / manifest.weights.onnx_fp32).unlink()
    weights = manifest.weights.model_copy(update={"onnx_fp32": None})
    write_manifest(path, manifest.model_copy(update={"weights": weights}))
    assert registry.load("scratch", "int8").precision == "int8"
    with pytest.raises(BundleError, match="no fp32 ONNX model"):
        registry.load("scratch", "fp32")
    with pytest.raises(BundleError, match="precision must be"):
        registry.load("scratch", "fp16")


# -- LoRA bundles: materialised to ONNX in a subprocess, once, under a lock ------------------------


MATERIALIZE_TWICE = """
import logging, sys
from pathlib import Path
from civility.model.registry import Registry
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
registry = Registry(roots=[], cache=Path(sys.argv[2]))
loaded = registry.load(Path(sys.argv[1]), "int8")
assert "torch" not in sys.modules
print(loaded.onnx_path)
"""


@pytest.mark.slow
def test_lora_bundles_are_materialised_once_by_concurrent_workers(
    dev_lora_bundle: Path, tmp_path: Path
) -> None:
    assert read_manifest(dev_lora_bundle).weights.format == "lora"
    ref = read_manifest(dev_lora_bundle).ref
    cache = tmp_path / "cache"
    command = [sys.executable, "-c", MATERIALIZE_TWICE, str(dev_lora_bundle), str(cache)]
    workers = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    for worker, (_, stderr) in zip(workers, outputs, strict=True):
        assert worker.returncode == 0, stderr
    paths = {stdout.strip() for stdout, _ in outputs}
    assert len(paths) == 1
    onnx = Path(paths.pop())
    assert onnx.is_file() and onnx.parent.parent == cache / "onnx"
    assert sum(stderr.count(f"materialising {ref}") for _, stderr in outputs) == 1
    # a later load finds the cache and does not export again
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "materialising" not in again.stderr
    scorer = Scorer.load(dev_lora_bundle, registry=Registry(roots=[], cache=cache))
    assert scorer.predict_proba(["hello there"]).shape == (1, len(scorer.labels))
