"""Perspective compatibility: analyze, suggestscore, errors, discovery, privacy."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from sqlalchemy import inspect, select, text

from civility.service.db.feedback import Feedback

ANALYZE = "/v1alpha1/comments:analyze"
SUGGEST = "/v1alpha1/comments:suggestscore"
COMMENT = "What kind of idiot name is foo? Sorry, I like your name."


@pytest.fixture
def app(service_app_factory: Callable[..., Any]) -> Any:
    return service_app_factory(max_text_chars=500)


@pytest.fixture
def client(app: Any, issue_key: Callable[..., str]) -> Iterator[Any]:
    with TestClient(app) as test_client:
        test_client.params = {"key": issue_key(app, "scorer")}  # Perspective style: ?key=
        yield test_client


def google_error(response: Any, status: int, message: str, google_status: str = "INVALID_ARGUMENT") -> None:
    assert response.status_code == status, response.text
    assert response.json() == {"error": {"code": status, "message": message, "status": google_status}}


def test_analyze_mirrors_perspective_fields(client: Any, service_scorer: Any) -> None:
    response = client.post(
        ANALYZE,
        json={
            "comment": {"text": COMMENT, "type": "PLAIN_TEXT"},
            "languages": ["en"],
            "requestedAttributes": {"TOXICITY": {}, "INSULT": {"scoreType": "PROBABILITY"}, "HARASSMENT": {}},
            "doNotStore": True,
            "clientToken": "comment-53922",
            "sessionId": "s-1",
        },
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body["attributeScores"]) == {"TOXICITY", "INSULT", "HARASSMENT"}
    expected = service_scorer.score([COMMENT])[0].scores
    for attribute, label in [("TOXICITY", "toxicity"), ("INSULT", "insult"), ("HARASSMENT", "harassment")]:
        summary = body["attributeScores"][attribute]["summaryScore"]
        assert summary["type"] == "PROBABILITY"
        assert summary["value"] == pytest.approx(expected[label], abs=1e-6)
        assert "spanScores" not in body["attributeScores"][attribute]
    assert body["languages"] == ["en"]
    assert body["detectedLanguages"] == ["en"]
    assert body["clientToken"] == "comment-53922"


def test_score_threshold_drops_attributes_below_it(client: Any) -> None:
    body = client.post(
        ANALYZE,
        json={
            "comment": {"text": COMMENT},
            "requestedAttributes": {"TOXICITY": {"scoreThreshold": 1.0}, "THREAT": {"scoreThreshold": 0.0}},
        },
    ).json()
    assert list(body["attributeScores"]) == ["THREAT"]
    assert body["languages"] == ["en"]  # auto-detected when not given
    assert "clientToken" not in body


def test_span_annotations_are_offsets_into_the_comment(client: Any) -> None:
    body = client.post(
        ANALYZE,
        json={"comment": {"text": COMMENT}, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True},
    ).json()
    spans = body["attributeScores"]["TOXICITY"]["spanScores"]
    assert isinstance(spans, list)
    for span in spans:
        assert 0 <= span["begin"] < span["end"] <= len(COMMENT)
        assert span["score"]["type"] == "PROBABILITY" and 0 <= span["score"]["value"] <= 1


def test_spans_are_left_out_past_the_span_limit(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    app = service_app_factory(max_span_chars=20)
    with TestClient(app) as client:
        client.params = {"key": issue_key(app)}
        payload = {
            "comment": {"text": COMMENT},
            "requestedAttributes": {"TOXICITY": {}},
            "spanAnnotations": True,
        }
        body = client.post(ANALYZE, json=payload).json()
    assert "spanScores" not in body["attributeScores"]["TOXICITY"]
    assert "summaryScore" in body["attributeScores"]["TOXICITY"]


def test_attribute_version_pins(client: Any, service_scorer: Any) -> None:
    version = service_scorer.manifest.version
    ok = client.post(
        ANALYZE, json={"comment": {"text": COMMENT}, "requestedAttributes": {f"TOXICITY@{version}": {}}}
    )
    assert ok.status_code == 200
    assert list(ok.json()["attributeScores"]) == [f"TOXICITY@{version}"]
    missing = client.post(
        ANALYZE, json={"comment": {"text": COMMENT}, "requestedAttributes": {"TOXICITY@9.9.9": {}}}
    )
    google_error(missing, 400, "Unknown attribute version: TOXICITY@9.9.9")


def test_html_comments_are_stripped(client: Any) -> None:
    plain = client.post(
        ANALYZE, json={"comment": {"text": "You are an idiot"}, "requestedAttributes": {"INSULT": {}}}
    )
    html = client.post(
        ANALYZE,
        json={
            "comment": {"text": "<p>You are an <b>idiot</b></p><script>x()</script>", "type": "HTML"},
            "requestedAttributes": {"INSULT": {}},
        },
    )
    assert html.json()["attributeScores"] == plain.json()["attributeScores"]


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"comment": {"text": ""}, "requestedAttributes": {"TOXICITY": {}}}, "Comment must be non-empty."),
        ({"comment": {}, "requestedAttributes": {"TOXICITY": {}}}, "Comment must be non-empty."),
        (
            {"comment": {"text": "\u200b "}, "requestedAttributes": {"TOXICITY": {}}},
            "Comment must be non-empty.",
        ),
        (
            {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}, "FLIRTATION": {}}},
            "Unknown requested attribute: FLIRTATION",
        ),
        (
            {"comment": {"text": "hola"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["es"]},
            "Attribute TOXICITY does not support request languages: es",
        ),
        (
            {"comment": {"text": "hi"}, "requestedAttributes": {}},
            "At least one requested attribute must be specified.",
        ),
        (
            {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {"scoreType": "RAW"}}},
            "Unsupported score type: RAW",
        ),
        (
            {"comment": {"text": "x" * 501}, "requestedAttributes": {"TOXICITY": {}}},
            "Comment text was too long: 501 characters. Max: 500.",
        ),
    ],
)
def test_errors_are_shaped_like_perspective(client: Any, payload: dict[str, Any], message: str) -> None:
    google_error(client.post(ANALYZE, json=payload), 400, message)


def test_english_variants_are_accepted(client: Any) -> None:
    response = client.post(
        ANALYZE,
        json={"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}, "languages": ["en-GB"]},
    )
    assert response.status_code == 200
    assert response.json()["languages"] == ["en-GB"]


def test_malformed_requests_get_google_errors(client: Any) -> None:
    broken = client.post(ANALYZE, content=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.json()["error"]["status"] == "INVALID_ARGUMENT"
    wrong = client.post(ANALYZE, json={"comment": {"text": 42}, "requestedAttributes": {"TOXICITY": {}}})
    assert wrong.status_code == 400
    assert set(wrong.json()["error"]) == {"code", "message", "status"}


def test_api_key_errors_match_google(app: Any) -> None:
    with TestClient(app) as client:
        payload = {"comment": {"text": "hi"}, "requestedAttributes": {"TOXICITY": {}}}
        google_error(
            client.post(ANALYZE, json=payload),
            403,
            "The request is missing a valid API key.",
            "PERMISSION_DENIED",
        )
        google_error(
            client.post(ANALYZE, params={"key": "nope"}, json=payload),
            400,
            "API key not valid. Please pass a valid API key.",
        )


@pytest.fixture
def db_app(service_app_factory: Callable[..., Any], db_url: str) -> Any:
    return service_app_factory(database_url=db_url)


def _suggest(client: Any, **extra: Any) -> Any:
    payload = {
        "comment": {"text": "I guess it comes down a simple choice: get busy living or get busy dying."},
        "attributeScores": {
            "TOXICITY": {"summaryScore": {"value": 0}},
            "THREAT": {"spanScores": [{"begin": 0, "end": 7, "score": {"value": 0.2}}]},
        },
        "communityId": "/forum/movies",
        "clientToken": "comment-53922",
        "languages": ["en"],
    }
    payload.update(extra)
    return client.post(SUGGEST, json=payload)


def test_suggestscore_stores_feedback_labels(db_app: Any, issue_key: Callable[..., str]) -> None:
    with TestClient(db_app) as client:
        client.params = {"key": issue_key(db_app, "scorer")}
        response = _suggest(client)
        assert response.status_code == 200, response.text
        assert response.json() == {"clientToken": "comment-53922"}
        with db_app.state.session_factory() as session:
            [row] = session.scalars(select(Feedback)).all()
        assert row.labels == {"toxicity": 0.0, "threat": 0.2}
        assert row.community_id == "/forum/movies"
        assert row.client_token == "comment-53922"
        assert row.source == "perspective_suggestscore"
        assert row.key_id is not None
        assert row.context == {
            "spans": {"threat": [{"begin": 0, "end": 7, "score": {"value": 0.2, "type": "PROBABILITY"}}]}
        }
        bad = _suggest(client, attributeScores={"NOPE": {"summaryScore": {"value": 1}}})
        google_error(bad, 400, "Unknown requested attribute: NOPE")
        outside = _suggest(
            client,
            attributeScores={"THREAT": {"spanScores": [{"begin": 0, "end": 999, "score": {"value": 1}}]}},
        )
        assert outside.status_code == 400
        out_of_range = _suggest(client, attributeScores={"THREAT": {"summaryScore": {"value": 2}}})
        assert out_of_range.status_code == 400


SECRET_TEXT = "zebra-quokka-7731 you absolute walnut"


def _all_stored_text(app: Any) -> str:
    """Every value in every table of the app's database, as one string."""
    engine = app.state.engine
    chunks: list[str] = []
    with engine.connect() as connection:
        for table in inspect(connection).get_table_names():
            for row in connection.execute(text(f'SELECT * FROM "{table}"')):
                chunks.append(repr(tuple(row)))
    return "\n".join(chunks)


@pytest.mark.parametrize("mode", ["doNotStore", "privacy_mode"])
def test_private_text_is_written_nowhere(
    service_app_factory: Callable[..., Any],
    db_url: str,
    issue_key: Callable[..., str],
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    mode: str,
) -> None:
    app = service_app_factory(database_url=db_url, privacy_mode=(mode == "privacy_mode"), log_level="DEBUG")
    do_not_store = mode == "doNotStore"
    with TestClient(app) as client:
        client.params = {"key": issue_key(app)}
        comment = {"comment": {"text": SECRET_TEXT}, "doNotStore": do_not_store}
        analyzed = client.post(
            ANALYZE, json={**comment, "requestedAttributes": {"TOXICITY": {}}, "spanAnnotations": True}
        )
        assert analyzed.status_code == 200
        suggested = client.post(
            SUGGEST, json={**comment, "attributeScores": {"TOXICITY": {"summaryScore": {"value": 1}}}}
        )
        assert suggested.status_code == 200
        scored = client.post("/v1/score", json={"text": SECRET_TEXT, "spans": True})
        assert scored.status_code == 200
        failed = client.post("/v1/score", json={"text": SECRET_TEXT, "labels": ["nope"]})
        assert failed.status_code == 422
        stored = _all_stored_text(app)
    assert "zebra-quokka" not in stored
    captured = capsys.readouterr()
    assert "zebra-quokka" not in captured.out + captured.err
    assert "zebra-quokka" not in caplog.text
    assert "request" in caplog.text  # the access log did run


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
def test_google_api_client_works_unchanged(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    """Perspective's Python quickstart, with only the discovery URL changed, against a live server."""
    from googleapiclient import discovery

    app = service_app_factory()
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        api_key = issue_key(app, "scorer")
        base = f"http://127.0.0.1:{port}"

        client = discovery.build(
            "commentanalyzer",
            "v1alpha1",
            developerKey=api_key,
            discoveryServiceUrl=base + "/$discovery/rest?version=v1alpha1",
            static_discovery=False,
        )
        analyze_request = {
            "comment": {"text": "friendly greetings from python"},
            "requestedAttributes": {"TOXICITY": {}},
        }
        response = client.comments().analyze(body=analyze_request).execute()
        value = response["attributeScores"]["TOXICITY"]["summaryScore"]["value"]
        assert 0.0 <= value <= 1.0
        feedback = (
            client.comments()
            .suggestscore(
                body={
                    "comment": {"text": "friendly greetings"},
                    "attributeScores": {"TOXICITY": {"summaryScore": {"value": 0}}},
                    "clientToken": "t-1",
                }
            )
            .execute()
        )
        assert feedback == {"clientToken": "t-1"}
    finally:
        server.should_exit = True
        thread.join(timeout=10)
