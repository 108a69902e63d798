"""Find, verify and prepare model bundles.

Search path: ``$CIVILITY_MODEL_DIR`` (default ``~/.local/share/civility/models``), then the
bundles shipped in the package (``model/bundles/``). Each root holds ``<name>/<version>/``.
A reference is ``name`` (highest version), ``name@version``, or a bundle directory.
The default reference is ``civility-default``.

Every load verifies the bundle's sha256 list. ``lora`` bundles are materialised to ONNX by
``python -m civility.model.materialize BUNDLE_DIR CACHE_DIR`` in a subprocess (torch stays out
of the calling process), once per bundle digest, under a file lock so that concurrent workers
wait for one another instead of exporting twice.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from filelock import FileLock, Timeout

from civility.model.bundle import MANIFEST, BundleError, Manifest, bundle_digest, read_manifest, verify_bundle

log = logging.getLogger(__name__)

DEFAULT_NAME = "civility-default"
SHIPPED_DIR = Path(__file__).resolve().parent / "bundles"
ONNX_FILES = {"fp32": "model.fp32.onnx", "int8": "model.int8.onnx"}
MATERIALIZE_TIMEOUT_S = 900
Precision = Literal["int8", "fp32"]
Source = Literal["user", "shipped", "path"]
Root = tuple[Path, Literal["user", "shipped"]]
_REF = re.compile(r"^(?P<name>[a-z0-9][a-z0-9_-]*)(?:@(?P<version>[0-9A-Za-z.+-]+))?$")


def user_model_dir() -> Path:
    return Path(os.environ.get("CIVILITY_MODEL_DIR") or Path.home() / ".local/share/civility/models")


def cache_dir() -> Path:
    return Path(os.environ.get("CIVILITY_CACHE_DIR") or Path.home() / ".cache/civility")


def version_key(version: str) -> tuple[tuple[int, ...], int, str]:
    """Semantic-version order: a pre-release sorts before its release."""
    core, _, rest = version.partition("+")[0].partition("-")
    numbers = tuple(int(p) if p.isdigit() else 0 for p in core.split("."))
    return numbers, 0 if rest else 1, rest


@dataclass(frozen=True)
class BundleInfo:
    name: str
    version: str
    path: Path
    source: Source
    manifest: Manifest

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class LoadedBundle:
    """A verified bundle and the ONNX file to run for the requested precision."""

    info: BundleInfo
    onnx_path: Path
    precision: Precision


class Registry:
    def __init__(self, roots: list[Root] | None = None, cache: Path | None = None) -> None:
        default: list[Root] = [(user_model_dir(), "user"), (SHIPPED_DIR, "shipped")]
        self.roots: list[Root] = roots if roots is not None else default
        self.cache = cache or cache_dir()

    def list(self) -> list[BundleInfo]:
        """Every bundle on the search path (earlier roots first), newest version first per name.

        A directory with a manifest that cannot be read is skipped here; ``resolve`` and
        ``load`` report it.
        """
        found: list[BundleInfo] = []
        for root, source in self.roots:
            if not root.is_dir():
                continue
            for manifest_path in sorted(root.glob(f"*/*/{MANIFEST}")):
                try:
                    manifest = read_manifest(manifest_path.parent)
                except BundleError:
                    continue
                found.append(
                    BundleInfo(manifest.name, manifest.version, manifest_path.parent, source, manifest)
                )
        order = {id(info): i for i, info in enumerate(found)}
        return sorted(found, key=lambda b: (b.name, _neg(version_key(b.version)), order[id(b)]))

    def resolve(self, ref: str | Path | None = None) -> Path:
        """The directory of the bundle ``ref`` names (see the module docstring)."""
        return self._info(ref).path

    def _info(self, ref: str | Path | None) -> BundleInfo:
        ref = DEFAULT_NAME if ref is None else ref
        text = str(ref)
        match = _REF.match(text) if isinstance(ref, str) else None
        if match is None or Path(text).is_dir():
            path = Path(text).expanduser()
            if not (path / MANIFEST).is_file():
                raise BundleError(
                    f"model {text!r}: not a bundle directory (no {MANIFEST}) and not a reference "
                    "of the form name or name@version"
                )
            manifest = read_manifest(path)
            return BundleInfo(manifest.name, manifest.version, path, "path", manifest)
        name, version = match.group("name"), match.group("version")
        candidates = [b for b in self.list() if b.name == name and (version is None or b.version == version)]
        if candidates:
            return candidates[0]
        for root, _ in self.roots:
            broken = root / name / (version or "")
            if version and broken.is_dir():
                read_manifest(broken)  # raises with the reason it is unreadable
        known = sorted({b.ref for b in self.list()})
        where = ", ".join(str(root) for root, _ in self.roots)
        raise BundleError(f"model {text!r} not found in {where}; available: {', '.join(known) or 'none'}")

    def load(self, ref: str | Path | None = None, precision: Precision = "int8") -> LoadedBundle:
        """Resolve, verify and (for LoRA bundles) materialise a bundle."""
        if precision not in ONNX_FILES:
            raise BundleError(f"precision must be one of {sorted(ONNX_FILES)}, not {precision!r}")
        info = self._info(ref)
        manifest = verify_bundle(info.path)
        info = BundleInfo(manifest.name, manifest.version, info.path, info.source, manifest)
        weights = manifest.weights
        if weights.format == "onnx":
            relative = weights.onnx_int8 if precision == "int8" else weights.onnx_fp32
            if relative is None:
                available = [p for p, f in (("int8", weights.onnx_int8), ("fp32", weights.onnx_fp32)) if f]
                raise BundleError(f"{info.ref} has no {precision} ONNX model (available: {available})")
            return LoadedBundle(info, info.path / relative, precision)
        return LoadedBundle(info, self.materialize(info)[precision], precision)

    def materialize(self, info: BundleInfo) -> dict[Precision, Path]:
        """ONNX files for a LoRA bundle, exported once into the cache (in a subprocess)."""
        target = self.cache / "onnx" / bundle_digest(info.manifest)
        paths: dict[Precision, Path] = {
            "fp32": target / ONNX_FILES["fp32"],
            "int8": target / ONNX_FILES["int8"],
        }
        if all(p.is_file() and p.stat().st_size > 0 for p in paths.values()):
            return paths
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(target) + ".lock")
        try:
            with lock.acquire(timeout=MATERIALIZE_TIMEOUT_S):
                if all(p.is_file() and p.stat().st_size > 0 for p in paths.values()):
                    return paths  # another worker finished while we waited
                log.info("materialising %s to ONNX in %s (once per bundle version)", info.ref, target)
                self._run_materialize(info, paths)
        except Timeout as exc:
            raise BundleError(f"{info.ref}: timed out waiting for another process to materialise it") from exc
        return paths

    def _run_materialize(self, info: BundleInfo, paths: dict[Precision, Path]) -> None:
        command = [sys.executable, "-m", "civility.model.materialize", str(info.path), str(self.cache)]
        try:
            result = subprocess.run(
                command, capture_output=True, text=True, timeout=MATERIALIZE_TIMEOUT_S, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BundleError(
                f"{info.ref}: materialising to ONNX took over {MATERIALIZE_TIMEOUT_S} s"
            ) from exc
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise BundleError(f"{info.ref}: materialising to ONNX failed (exit {result.returncode}):\n{tail}")
        missing = [str(p) for p in paths.values() if not p.is_file()]
        if missing:
            raise BundleError(f"{info.ref}: materialise finished but did not write {missing}")


def _neg(key: tuple[tuple[int, ...], int, str]) -> tuple[tuple[int, ...], int, tuple[int, ...]]:
    """Sort key for descending versions inside an ascending sort."""
    numbers, release, rest = key
    return tuple(-n for n in numbers), -release, tuple(-ord(c) for c in rest)
