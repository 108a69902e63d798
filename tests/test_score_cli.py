"""``civility score`` and ``civility models`` end to end on a real bundle (Typer's runner, real files)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civility.cli import app
from civility.model.bundle import read_manifest, write_manifest
from civility.model.labels import label_ids

runner = CliRunner()


@pytest.fixture(scope="module")
def model_dir(dev_bundle: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A user model directory holding the dev bundle as civility-default@999.0.0 (hard links)."""
    root = tmp_path_factory.mktemp("cli-models")
    target = root / "civility-default" / "999.0.0"
    shutil.copytree(dev_bundle, target, copy_function=os.link)
    manifest = read_manifest(target).model_copy(update={"name": "civility-default", "version": "999.0.0"})
    (target / "manifest.json").unlink()
    write_manifest(target, manifest)
    return root


@pytest.fixture(autouse=True)
def _env(model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVILITY_MODEL_DIR", str(model_dir))
    monkeypatch.setenv("CIVILITY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)


def read_jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_single_text_prints_every_label() -> None:
    result = runner.invoke(app, ["score", "--text", "you are an idiot", "--no-spans"])
    assert result.exit_code == 0, result.output
    for label in label_ids():
        assert label in result.stdout
    assert "civility-default@999.0.0" in result.stdout
    assert "language: en" in result.stdout


def test_single_text_as_json_with_spans() -> None:
    result = runner.invoke(app, ["score", "--text", "you are an idiot", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["model"] == "civility-default@999.0.0"
    assert set(payload["scores"]) == set(label_ids())
    assert set(payload["spans"]) == set(label_ids())
    assert payload["english"] is True


def test_csv_keeps_order_and_ids(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text(
        'id,author,text\nc-3,ann,"Great reporting, thanks"\nc-1,bob,""\nc-2,cy,"you are a\nfucking idiot"\n'
        "c-9,dee,The mayor is wrong\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["score", str(source), "--output", "out.jsonl"])
    assert result.exit_code == 0, result.output
    rows = read_jsonl(tmp_path / "out.jsonl")
    assert [r["id"] for r in rows] == ["c-3", "c-2", "c-9"]
    for row in rows:
        assert set(row) >= {"id", "scores", "flagged", "model"}
        assert row["model"] == "civility-default@999.0.0"
        assert set(row["scores"]) == set(label_ids())  # type: ignore[arg-type]
    assert "skipped 1 empty" in result.stderr
    assert "scored 3 comments" in result.stderr


def test_jsonl_without_ids_numbers_the_records(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text(
        '{"text": "first"}\n\n{"text": "second", "id": 42}\n{"text": "   "}\n', encoding="utf-8"
    )
    result = runner.invoke(app, ["score", str(source), "-o", "out.jsonl"])
    assert result.exit_code == 0, result.output
    assert [r["id"] for r in read_jsonl(tmp_path / "out.jsonl")] == [1, 42]


def test_stdin_lines_to_stdout() -> None:
    result = runner.invoke(app, ["score", "-"], input="first comment\n\nsecond comment\n")
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["id"] for r in rows] == [1, 3]  # line numbers; the empty line is skipped


def test_huge_comment_is_truncated_not_refused(tmp_path: Path) -> None:
    source = tmp_path / "big.jsonl"
    source.write_text(
        json.dumps({"id": "big", "text": "very long comment " * 60_000}) + "\n", encoding="utf-8"
    )
    assert source.stat().st_size > 1_000_000
    result = runner.invoke(app, ["score", str(source), "-o", "out.jsonl"])
    assert result.exit_code == 0, result.output
    (row,) = read_jsonl(tmp_path / "out.jsonl")
    assert row["id"] == "big" and row["truncated"] is True
    assert "truncated 1 comments" in result.stderr


def test_invalid_utf8_names_the_line_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "bad.csv"
    source.write_bytes(b"text\nfine\nalso fine\nbroken \xff\xfe here\n")
    result = runner.invoke(app, ["score", str(source), "-o", "out.jsonl"])
    assert result.exit_code == 2
    assert "line 4 is not valid UTF-8" in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "out.jsonl").exists()
    assert list(tmp_path.glob("*.partial")) == []


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        ("author,body\nann,hello\n", "in.csv", "no 'text' column (columns: author, body)"),
        ('{"text": "ok"}\n{"text": broken}\n', "in.jsonl", "line 2 is not valid JSON"),
        ('{"body": "ok"}\n', "in.jsonl", "line 1 has no 'text' field"),
        ('{"text": 5}\n', "in.jsonl", "'text' must be a string"),
        ('["text"]\n', "in.jsonl", "expected an object"),
        ("text\nhello\n", "in.xlsx", "cannot tell the format"),
    ],
)
def test_bad_input_gets_a_clear_error(tmp_path: Path, content: str, name: str, message: str) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    result = runner.invoke(app, ["score", name, "-o", "out.jsonl"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_usage_errors() -> None:
    missing = runner.invoke(app, ["score", "nope.csv"])
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    neither = runner.invoke(app, ["score"])
    assert neither.exit_code == 2 and "either --text" in neither.stderr
    unknown_model = runner.invoke(app, ["score", "--text", "hi", "--model", "no-such-model"])
    assert unknown_model.exit_code == 2 and "not found" in unknown_model.stderr
    assert "civility-default@999.0.0" in unknown_model.stderr


def test_precision_option() -> None:
    result = runner.invoke(app, ["score", "--text", "hello", "--precision", "fp32", "--json", "--no-spans"])
    assert result.exit_code == 0, result.output
    bad = runner.invoke(app, ["score", "--text", "hello", "--precision", "fp16"])
    assert bad.exit_code == 2


def test_models_list_and_show(model_dir: Path) -> None:
    listed = runner.invoke(app, ["models", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    rows = json.loads(listed.stdout)
    assert {"ref": "civility-default@999.0.0", "default": True}.items() <= rows[0].items()
    shown = runner.invoke(app, ["models", "show", "civility-default@999.0.0"])
    assert shown.exit_code == 0, shown.output
    assert "verified" in shown.stdout
    for label in label_ids():
        assert label in shown.stdout


def test_models_show_reports_a_tampered_bundle(dev_bundle: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tampered"
    shutil.copytree(dev_bundle, copy)
    (copy / "tokenizer" / "tokenizer.json").write_text("{}", encoding="utf-8")
    result = runner.invoke(app, ["models", "show", str(copy)])
    assert result.exit_code == 1
    assert "FAILED" in result.stdout and "tokenizer/tokenizer.json" in result.stdout
