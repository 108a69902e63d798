"""``civility extract``: text renderings (the RT seed), HTML pages, CSV/JSONL exports."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from civility.cli import app
from civility.training.extract.html_thread import read_html_thread
from civility.training.extract.pipeline import extract_files
from civility.training.extract.records import CommentRecord, read_records
from civility.training.extract.settings import SitesConfig, load_extract_settings, load_sites
from civility.training.extract.text_thread import read_text_thread

DATA = Path(__file__).parent / "data" / "extract"
SEEDS = Path(os.environ.get("CIVILITY_SEEDS_DIR", "/work/shared/seeds"))
RT_SEED = SEEDS / "003_c1c16df8d23e2ec4.txt"
needs_seeds = pytest.mark.skipif(
    not RT_SEED.is_file(), reason=f"seed pages not found in {SEEDS} (CIVILITY_SEEDS_DIR)"
)

# Read off the saved page by eye: (author, votes) in thread order.
RT_EXPECTED = [
    ("abu bakar abu samah", 0),
    ("David Stael", 0),
    ("One Horse Guy", 11),
    ("Bob Frederick", 0),
    ("Bob Frederick", 2),
    ("vivekanandan salai", 1),
    ("I support Russia because you don't want me too.", 1),
    ("Linsen", 1),
    ("TC", 1),
    ("Melons1054", 0),
    ("Chuck MacDonald", 0),
    ("Ghost", 1),
    ("GunZenBomZ", 10),
    ("FW190", 6),
    ("John Beauvais", 2),
    ("Jolly Roger", 0),
    ("ANDREA Stengel", 6),
    ("Jolly Roger", 0),
]
RT_FURNITURE = [
    "Podcasts",
    "All podcasts",
    "FEATURE",
    "Where Russia's next major offensive may strike",
    "Cornered dog bites feeding hands",
    "Jose Zorilla",
    "[Reply]",
    "Reply",
    "Read more",
    "Subscribe",
    "Sign In",
    "Sort by",
    "Your comment here",
    "▶",
    "0:00",
    "🔊",
    "commenting policy",
    "Top stories",
]


def run_extract(tmp_path: Path, *args: str) -> tuple[int, list[CommentRecord], str]:
    out = tmp_path / "comments.jsonl"
    result = CliRunner().invoke(app, ["extract", *args, "--output", str(out)])
    records = read_records(out) if out.exists() else []
    return result.exit_code, records, result.output


@needs_seeds
def test_rt_seed_gives_exactly_its_18_comments_in_order(tmp_path: Path) -> None:
    code, records, output = run_extract(tmp_path, str(RT_SEED))
    assert code == 0, output
    assert [(r.author, r.votes) for r in records] == RT_EXPECTED
    assert records[0].posted_at == datetime(2026, 2, 1, 17, 48)
    assert records[2].posted_at == datetime(2026, 1, 30, 18, 54)
    assert records[8].text == "That mouth can take 4 BBCs at one go with ease"
    assert records[4].text == "she is incompetent and is partially responsible for 2 million plus deaths..."
    assert records[0].text.startswith("Well, let see for another four more years")
    assert records[0].text.endswith("but it won't make Russia wilt.")
    assert all(r.thread.title == "‘Why should Russia talk to us?’ – Kallas" for r in records)
    assert all(r.language == "en" for r in records)
    assert len({r.id for r in records}) == 18


@needs_seeds
def test_rt_comments_contain_no_page_furniture() -> None:
    result = read_text_thread(RT_SEED.read_text(encoding="utf-8"), load_sites())
    for comment in result.comments:
        for furniture in RT_FURNITURE:
            assert furniture not in comment.text, (comment.author, furniture)
        assert "Kallas addresses the European Parliament" not in comment.text  # article body


@needs_seeds
def test_rt_replies_are_linked_to_the_comment_they_answer(tmp_path: Path) -> None:
    _, records, _ = run_extract(tmp_path, str(RT_SEED))
    by_author = {r.author: r for r in records}
    gunzen = by_author["GunZenBomZ"]
    assert [r.author for r in records if r.parent_id == gunzen.id] == [
        "FW190",
        "John Beauvais",
        "Jolly Roger",
    ]
    assert records[-1].parent_id == by_author["ANDREA Stengel"].id
    assert sum(r.parent_id is None for r in records) == 14


@needs_seeds
@pytest.mark.parametrize("seed", ["000", "001", "002", "004"])
def test_seeds_without_comments_give_zero_comments(seed: str) -> None:
    (path,) = SEEDS.glob(f"{seed}_*.txt")
    assert read_text_thread(path.read_text(encoding="utf-8"), load_sites()).comments == []


@needs_seeds
def test_ids_are_stable_across_runs(tmp_path: Path) -> None:
    _, first, _ = run_extract(tmp_path, str(RT_SEED))
    _, second, _ = run_extract(tmp_path, str(RT_SEED))
    assert [r.id for r in first] == [r.id for r in second]


def test_another_sites_layout_with_its_own_markers() -> None:
    sites = load_sites(DATA / "sites_riverside.yaml")
    result = read_text_thread((DATA / "riverside_forum.txt").read_text(encoding="utf-8"), sites)
    assert result.profile == "riverside-forum"
    assert [(c.author, c.votes) for c in result.comments] == [
        ("Maria Lopez", 12),
        ("Tom", 0),
        ("Kim Hart", None),
    ]
    assert result.comments[0].text == "Great reporting, thank you.\nIt is about time the council listened."
    assert result.comments[2].text == "Anyone who disagrees with this is an idiot."  # stops at "Most read"
    assert result.comments[1].posted_at == datetime(2025, 3, 14, 10, 40)
    # The editor's note has a header but no reply control: not a reader comment.
    assert all("closed" not in c.text for c in result.comments)


def test_coral_page_with_configured_selectors() -> None:
    settings = load_extract_settings()
    html = (DATA / "coral_thread.html").read_text(encoding="utf-8")
    result = read_html_thread(html, load_sites(), settings.html_fallback)
    assert result.strategy == "coral"
    assert [(c.author, c.votes) for c in result.comments] == [
        ("Maria L.", 12),
        ("harbour_dad", 1),
        ("Tom Briggs", 0),
        ("Anja", 3),
    ]
    first, reply = result.comments[:2]
    assert (
        first.text
        == "Finally. The 42 has been stuck in traffic for years.\n\nNow do the same on Mill Street, please."
    )
    assert reply.native_parent_id == first.native_id == "comment-7f3a1c"
    assert first.posted_at is not None and first.posted_at.isoformat() == "2026-02-01T17:48:00+00:00"
    assert result.thread.url == "https://gazette.example/news/2026/02/harbour-road-bus-lanes"
    assert result.thread.title == "Council approves new bus lanes on Harbour Road"
    for comment in result.comments:
        assert "Respect" not in comment.text and "Reply" not in comment.text
        assert "Subscriber" not in comment.text


def test_unknown_site_falls_back_to_repeated_comment_blocks(tmp_path: Path) -> None:
    code, records, output = run_extract(tmp_path, str(DATA / "disqus_like_thread.html"))
    assert code == 0, output
    assert "fallback" in output
    assert [(r.author, r.votes) for r in records] == [("Kirsty M", 14), ("ferrywatcher", 3), ("G. Dunn", -2)]
    assert records[1].parent_id == records[0].id
    assert (
        records[2].text == "Crew shortages were predicted two years ago.\n\nNobody at the council listened."
    )
    assert records[0].posted_at == datetime(2026, 1, 30, 9, 15)
    texts = " ".join(r.text for r in records)
    for furniture in ("Harbour master retires", "Share", "Reply", "a day ago", "Island Courier", "▲"):
        assert furniture not in texts


def test_language_is_detected_per_comment(tmp_path: Path) -> None:
    _, records, _ = run_extract(tmp_path, str(DATA / "coral_thread.html"))
    assert {r.author: r.language for r in records}["Anja"] == "de"
    assert {r.author: r.language for r in records}["Tom Briggs"] == "en"


def test_csv_export_with_column_mapping_and_dedup(tmp_path: Path) -> None:
    code, records, output = run_extract(
        tmp_path,
        str(DATA / "comments_export.csv"),
        "--text-column",
        "msg",
        "--author-column",
        "user",
        "--time-column",
        "created",
        "--parent-column",
        "parent",
    )
    assert code == 0, output
    assert [r.author for r in records] == ["Maria", "Tom", "Lee", "Kim"]  # grouped by thread
    maria, tom, lee, kim = records
    assert tom.parent_id == maria.id
    assert maria.thread.url == "https://gazette.example/a" and kim.thread.url == "https://gazette.example/b"
    assert maria.posted_at == datetime(2025, 3, 14, 9, 12)
    assert kim.posted_at == datetime(2025, 3, 14, 11, 0)
    assert lee.posted_at is None and lee.votes is None
    assert "1 duplicates dropped" in output
    assert "1 rows without text skipped" in output
    assert "timestamps not understood" in output


def test_jsonl_export_with_nested_columns(tmp_path: Path) -> None:
    code, records, output = run_extract(
        tmp_path,
        str(DATA / "comments_export.jsonl"),
        "--text-column",
        "comment.body",
        "--author-column",
        "user.name",
        "--url-column",
        "story.url",
        "--title-column",
        "story.title",
        "--parent-column",
        "reply_to",
    )
    assert code == 0, output
    assert [(r.author, r.votes) for r in records] == [("angry_reader", 0), ("moderator_jo", 5)]
    assert records[1].parent_id == records[0].id
    assert records[0].thread.title == "Ferry cuts"


def test_output_record_fields(tmp_path: Path) -> None:
    _, records, _ = run_extract(
        tmp_path, str(DATA / "comments_export.jsonl"), "--text-column", "comment.body"
    )
    line = json.loads((tmp_path / "comments.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert set(line) == {
        "id",
        "source",
        "thread",
        "parent_id",
        "author",
        "posted_at",
        "votes",
        "text",
        "language",
    }
    assert set(line["thread"]) == {"url", "title"}
    assert line["posted_at"] == "2026-01-30T09:15:00Z"
    assert records[0].source == "comments_export.jsonl"


def test_directories_are_expanded_and_duplicates_across_files_dropped(tmp_path: Path) -> None:
    copy = tmp_path / "again" / "coral_copy.html"
    copy.parent.mkdir()
    copy.write_text((DATA / "coral_thread.html").read_text(encoding="utf-8"), encoding="utf-8")
    result = extract_files([DATA / "coral_thread.html", copy.parent], load_sites(), load_extract_settings())
    assert len(result.records) == 4
    assert result.duplicates == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["does-not-exist.txt"], "no such file"),
        ([str(DATA / "comments_export.csv"), "--text-column", "nope"], "no column 'nope'"),
        ([str(DATA / "comments_export.csv"), "--site", "nowhere"], "unknown site"),
        ([str(DATA / "sites_riverside.yaml")], "unknown input type"),
        (
            [str(DATA / "coral_thread.html"), "--sites", str(DATA / "coral_thread.html")],
            "invalid site configuration",
        ),
    ],
)
def test_bad_input_gives_a_clear_error(tmp_path: Path, args: list[str], message: str) -> None:
    code, _, output = run_extract(tmp_path, *args)
    assert code == 2
    assert message in output
    assert "Traceback" not in output
    assert not (tmp_path / "comments.jsonl").exists()


def test_invalid_jsonl_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": broken\n', encoding="utf-8")
    code, _, output = run_extract(tmp_path, str(bad))
    assert code == 2
    assert "bad.jsonl:2: invalid JSON" in output


@pytest.mark.parametrize("name", ["page.txt", "page.html", "export.jsonl", "export.csv"])
def test_invalid_utf8_is_a_clear_error(tmp_path: Path, name: str) -> None:
    bad = tmp_path / name
    bad.write_bytes(b"caf\xe9 \x80 \xff\n")
    code, _, output = run_extract(tmp_path, str(bad))
    assert code == 2
    assert "not UTF-8" in output and "Traceback" not in output


def test_fallback_reads_a_coral_page_like_its_configured_selectors() -> None:
    settings = load_extract_settings()
    html = (DATA / "coral_thread.html").read_text(encoding="utf-8")
    configured = read_html_thread(html, load_sites(), settings.html_fallback)
    no_sites = SitesConfig(text_renderings=[], html=[])
    fallback = read_html_thread(html, no_sites, settings.html_fallback)
    assert fallback.strategy == "fallback"
    fields = [(c.author, c.posted_at, c.votes, c.text) for c in configured.comments]
    assert [(c.author, c.posted_at, c.votes, c.text) for c in fallback.comments] == fields
    assert fallback.comments[1].native_parent_id == fallback.comments[0].native_id


def test_page_without_comments_gives_zero_comments_not_teasers() -> None:
    settings = load_extract_settings()
    html = (DATA / "article_without_comments.html").read_text(encoding="utf-8")
    result = read_html_thread(html, load_sites(), settings.html_fallback)
    assert result.comments == []
