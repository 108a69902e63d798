"""benchmarks/compare_reports.py as a gate before switching the default model (``--max-drop``),
on the committed evaluation reports of the shipped bundles 1.9.0 and 2.0.4."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
V190 = RESULTS / "quality-civility-default-1.9.0" / "report.json"
V204 = RESULTS / "quality-civility-default-2.0.4" / "report.json"


@pytest.fixture(scope="module")
def compare() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "compare_reports", ROOT / "benchmarks" / "compare_reports.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_a_report_does_not_regress_against_itself(
    compare: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    assert compare.main([str(V204), str(V204), "--max-drop", "0"]) == 0
    assert "none" in capsys.readouterr().out


def test_switching_back_to_1_9_0_is_flagged_on_the_functional_suites(
    compare: ModuleType, capsys: pytest.CaptureFixture[str]
) -> None:
    """1.9.0 ranks the functional suites 0.078 worse than 2.0.4 (threats 0.16 worse): the gate says so."""
    assert compare.main([str(V204), str(V190), "--max-drop", "0.03", "--min-positives", "30"]) == 1
    out = capsys.readouterr().out
    assert "functional rank_accuracy: 0.882 → 0.804" in out
    assert "functional threats rank_accuracy" in out
    found = compare.regressions(json.loads(V204.read_text()), json.loads(V190.read_text()), 0.03, 30)
    assert all(float(line.rsplit("(", 1)[1].rstrip(")")) < -0.03 for line in found)


def test_without_max_drop_it_only_prints(compare: ModuleType, capsys: pytest.CaptureFixture[str]) -> None:
    assert compare.main([str(V204), str(V190)]) == 0
    assert "Regressions" not in capsys.readouterr().out


def test_small_per_corpus_samples_are_not_gated(compare: ModuleType) -> None:
    report = json.loads(V204.read_text())
    few = {name for name in compare.gated_measures(report, 1) if name.startswith("ROC-AUC ")} - set(
        compare.gated_measures(report, 100)
    )
    assert few, "some corpus/label pairs have fewer than 100 positives"
