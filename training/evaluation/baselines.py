"""Shipped baseline classifiers (alt-profanity-check, hatesonar, offensivetext), scored side by side.

They pin old scikit-learn/joblib versions, so they live in their own venv (``.venv-baselines``,
made by ``benchmarks/baselines/setup.sh``) and run there through
``benchmarks/baselines/run_baseline.py``: JSONL texts in, JSONL raw outputs out. Each baseline's
raw outputs are then mapped onto the Civility labels it covers (``configs/evaluation.yaml``).
A baseline that cannot run is reported with the reason instead of scores.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from civility.training.evaluation.config import BaselineModelConfig, BaselinesConfig, repo_root, resolve_under


@dataclass
class BaselineScores:
    """One baseline's outcome: per-label scores where it ran, otherwise why not."""

    name: str
    package: str
    ok: bool
    version: str | None = None
    scores: dict[str, np.ndarray] = field(default_factory=dict)
    reference_labels: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def baselines_environment(config: BaselinesConfig, root: Path | None = None) -> tuple[Path, Path, Path]:
    """(venv python, runner script, venv dir), with relative paths resolved against the repository root."""
    root = root or repo_root()
    venv = resolve_under(root, config.venv)
    return venv / "bin" / "python", resolve_under(root, config.runner), venv


def map_outputs(raw: Sequence[dict[str, float]], model: BaselineModelConfig) -> dict[str, np.ndarray]:
    """Combine a baseline's raw outputs into Civility label scores (``sum`` or ``max`` per label)."""
    out: dict[str, np.ndarray] = {}
    for label, mapping in model.labels.items():
        missing = [name for name in mapping.outputs if raw and name not in raw[0]]
        if missing:
            raise ValueError(f"baseline output lacks {missing} (has {sorted(raw[0])})")
        matrix = np.array([[row[name] for name in mapping.outputs] for row in raw], dtype=np.float64)
        if matrix.size == 0:
            out[label] = np.zeros(0)
            continue
        combined = matrix.sum(axis=1) if mapping.combine == "sum" else matrix.max(axis=1)
        out[label] = np.clip(combined, 0.0, 1.0)
    return out


def run_baseline(
    name: str, texts: Sequence[str], config: BaselinesConfig, *, root: Path | None = None
) -> BaselineScores:
    """Score ``texts`` with one configured baseline in the baselines venv."""
    model = config.models[name]
    python, runner, venv = baselines_environment(config, root)
    result = BaselineScores(
        name=name,
        package=model.package,
        ok=False,
        reference_labels=[label for label, m in model.labels.items() if m.reference],
    )
    if not python.is_file():
        result.notes.append(
            f"skipped: baselines venv not found at {venv} (run: bash benchmarks/baselines/setup.sh)"
        )
        return result
    if not runner.is_file():
        result.notes.append(f"skipped: baseline runner not found at {runner}")
        return result
    env = {
        **os.environ,
        "LOCPATH": str(venv / "locale"),
        "NLTK_DATA": str(venv / "nltk_data"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory(prefix=f"civility-{name}-") as tmp:
        work = Path(tmp)
        (work / "in.jsonl").write_text(
            "".join(json.dumps({"text": t}) + "\n" for t in texts), encoding="utf-8"
        )
        command = [
            str(python), str(runner), name,
            "--input", str(work / "in.jsonl"),
            "--output", str(work / "out.jsonl"),
            "--status", str(work / "status.json"),
        ]  # fmt: skip
        try:
            proc = subprocess.run(
                command, env=env, capture_output=True, text=True, timeout=config.timeout_seconds, check=False
            )
        except subprocess.TimeoutExpired:
            result.notes.append(f"timed out after {config.timeout_seconds:.0f} s")
            return result
        status_path = work / "status.json"
        if not status_path.is_file():
            tail = proc.stderr.strip().splitlines()[-1:] if proc.stderr.strip() else []
            result.notes.append(f"runner exited {proc.returncode} without a status file {tail}")
            return result
        status = json.loads(status_path.read_text(encoding="utf-8"))
        result.version = status.get("version")
        result.notes.extend(status.get("notes", []))
        if not status.get("ok"):
            return result
        with (work / "out.jsonl").open(encoding="utf-8") as fh:
            raw = [json.loads(line) for line in fh if line.strip()]
    if len(raw) != len(texts):
        result.notes.append(f"runner returned {len(raw)} rows for {len(texts)} texts")
        return result
    try:
        result.scores = map_outputs(raw, model)
    except ValueError as exc:
        result.notes.append(str(exc))
        return result
    result.ok = True
    return result


def run_baselines(
    texts: Sequence[str], config: BaselinesConfig, *, root: Path | None = None
) -> list[BaselineScores]:
    """Every configured baseline, in configuration order."""
    return [run_baseline(name, texts, config, root=root) for name in config.models]
