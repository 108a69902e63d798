"""Native scoring API ``POST /v1/score`` against the real dev model."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from civility.model.bundle import read_manifest, write_manifest
from civility.model.labels import label_ids
from civility.service.batcher import MicroBatcher

TEXTS = [
    "You are a complete idiot and everyone here knows it.",
    "Thanks for the thoughtful article, I learned a lot.",
    "I will find you and hurt you.",
]


@pytest.fixture
def app(service_app_factory: Callable[..., Any]) -> Any:
    return service_app_factory()


@pytest.fixture
def client(app: Any, issue_key: Callable[..., str]) -> Any:
    with TestClient(app) as test_client:
        test_client.headers["X-API-Key"] = issue_key(app, "scorer")
        yield test_client


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    return dict(body["error"])


def test_single_text_returns_every_label_a_decision_and_the_model(client: Any, service_scorer: Any) -> None:
    response = client.post("/v1/score", json={"text": TEXTS[0]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == service_scorer.ref
    assert body["request_id"] == response.headers["x-request-id"]
    [result] = body["results"]
    assert list(result["scores"]) == label_ids()
    assert all(0.0 <= v <= 1.0 for v in result["scores"].values())
    assert set(result["flagged"]) == set(label_ids())
    assert result["decision"]["action"] in {"allow", "review", "reject"}
    for reason in result["decision"]["reasons"]:
        assert reason["message"]
    assert result["english"] is True and result["language"] == "en"
    assert result["truncated"] is False
    assert result["spans"] is None


def test_batch_scores_match_the_model_in_order(client: Any, service_scorer: Any) -> None:
    response = client.post("/v1/score", json={"texts": TEXTS})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    direct = service_scorer.score(TEXTS)
    assert len(results) == len(TEXTS)
    for got, expected in zip(results, direct, strict=True):
        for label, value in expected.scores.items():
            assert got["scores"][label] == pytest.approx(value, abs=1e-6)


def test_label_subset_and_client_request_id(client: Any) -> None:
    response = client.post(
        "/v1/score",
        json={"text": TEXTS[0], "labels": ["insult", "toxicity"]},
        headers={"X-Request-ID": "abc-123"},
    )
    assert response.status_code == 200
    body = response.json()
    assert body["request_id"] == "abc-123"
    assert list(body["results"][0]["scores"]) == ["insult", "toxicity"]


def test_unknown_label_is_a_machine_readable_422(client: Any) -> None:
    response = client.post("/v1/score", json={"text": "hi", "labels": ["toxicity", "rudeness"]})
    assert response.status_code == 422
    error = error_of(response)
    assert error["code"] == "unknown_label"
    assert error["details"]["unknown"] == ["rudeness"]
    assert "toxicity" in error["details"]["known"]


def test_spans_are_offsets_into_the_original_text(client: Any) -> None:
    text = "You   stupid\u200b idiot, nobody wants you here."
    response = client.post("/v1/score", json={"text": text, "spans": True})
    assert response.status_code == 200, response.text
    spans = response.json()["results"][0]["spans"]
    assert set(spans) == set(label_ids())
    for found in spans.values():
        for span in found:
            assert 0 <= span["begin"] < span["end"] <= len(text)
            assert text[span["begin"] : span["end"]] == span["text"]


def test_context_single_and_per_text(client: Any) -> None:
    ok = client.post(
        "/v1/score",
        json={"texts": TEXTS[:2], "context": [{"parent": "Who agrees?", "title": "Budget"}, None]},
    )
    assert ok.status_code == 200, ok.text
    shared = client.post("/v1/score", json={"texts": TEXTS[:2], "context": {"title": "Budget"}})
    assert shared.status_code == 200
    mismatch = client.post("/v1/score", json={"texts": TEXTS[:2], "context": [{"title": "x"}]})
    assert mismatch.status_code == 422
    assert error_of(mismatch)["code"] == "context_mismatch"


def test_non_english_is_scored_and_flagged(client: Any) -> None:
    text = "Je pense que cet article est très intéressant et bien écrit, merci beaucoup."
    response = client.post("/v1/score", json={"text": text})
    assert response.status_code == 200
    result = response.json()["results"][0]
    assert result["english"] is False
    assert result["language"] == "fr"
    assert len(result["scores"]) == len(label_ids())


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"text": ""}, "empty_text"),
        ({"text": "   \n"}, "empty_text"),
        ({"text": "\u200b\u200d\ufeff\x00"}, "empty_text"),
        ({"texts": []}, "empty_batch"),
        ({"texts": ["fine", ""]}, "empty_text"),
        ({"text": 5}, "invalid_request"),
        ({"texts": "not a list"}, "invalid_request"),
        ({"text": "a", "texts": ["b"]}, "invalid_request"),
        ({}, "invalid_request"),
        ({"text": "a", "spans": "yes"}, "invalid_request"),
        ({"text": "a", "unexpected": 1}, "invalid_request"),
        ({"text": "a", "labels": []}, "empty_labels"),
        ({"text": "a", "model": "../../etc/passwd"}, "invalid_model_ref"),
        ({"text": "a", "model": "no-such-model@1.0.0"}, "unknown_model"),
        ([1, 2], "invalid_body"),
    ],
)
def test_bad_input_is_a_clear_4xx(client: Any, payload: Any, code: str) -> None:
    response = client.post("/v1/score", json=payload)
    assert response.status_code == 422, response.text
    assert error_of(response)["code"] == code


def test_invalid_json_and_utf8_are_400(client: Any) -> None:
    headers = {"Content-Type": "application/json"}
    broken = client.post("/v1/score", content=b'{"text": "unterminated', headers=headers)
    assert broken.status_code == 400
    assert error_of(broken)["code"] == "invalid_json"
    latin1 = client.post("/v1/score", content='{"text": "caf\xe9"}'.encode("latin-1"), headers=headers)
    assert latin1.status_code == 400
    assert error_of(latin1)["code"] in {"invalid_utf8", "invalid_json"}
    surrogate = client.post("/v1/score", content=b'{"text": "bad \\ud800 char"}', headers=headers)
    assert surrogate.status_code == 422
    assert error_of(surrogate)["code"] == "invalid_text"


def test_limits_on_text_batch_and_body(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    app = service_app_factory(max_text_chars=40, max_batch_size=2, max_request_bytes=4096, max_span_chars=60)
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app)
        long = client.post("/v1/score", json={"text": "x" * 41})
        assert long.status_code == 422
        assert error_of(long)["details"] == {"length": 41, "max_chars": 40}
        batch = client.post("/v1/score", json={"texts": ["a", "b", "c"]})
        assert batch.status_code == 422
        assert error_of(batch) == {
            "code": "batch_too_large",
            "message": "3 texts in one request; the limit is 2.",
            "details": {"count": 3, "max_batch_size": 2},
        }
        spans = client.post("/v1/score", json={"texts": ["z " * 15, "z " * 15], "spans": True})
        assert spans.status_code == 200
        too_long_spans = client.post("/v1/score", json={"texts": ["z " * 20, "z " * 20], "spans": True})
        assert error_of(too_long_spans)["code"] == "spans_text_too_long"
        body = json.dumps({"text": "y" * 5000}).encode()
        declared = client.post("/v1/score", content=body, headers={"Content-Type": "application/json"})
        assert declared.status_code == 413
        assert error_of(declared)["code"] == "request_too_large"

        def chunks() -> Any:
            for i in range(0, len(body), 1000):
                yield body[i : i + 1000]

        streamed = client.post("/v1/score", content=chunks(), headers={"Content-Type": "application/json"})
        assert streamed.status_code == 413
        assert error_of(streamed)["code"] == "request_too_large"


def test_policy_file_and_site_drive_the_decision(
    tmp_path: Path, service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    policy = {
        "thresholds": {"toxicity": {"review": 0.99, "reject": 0.999}},
        "banned": ["kill yourself"],
        "sites": {"strict": {"thresholds": {"toxicity": {"review": 0.0, "reject": 0.0}}}},
    }
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(policy))
    app = service_app_factory(policy_file=path)
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app)
        banned = client.post("/v1/score", json={"text": "just k i l l   y o u r s e l f"}).json()
        decision = banned["results"][0]["decision"]
        assert decision["action"] == "reject"
        assert decision["reasons"][0]["code"] == "banned_term"
        strict = client.post("/v1/score", json={"text": "hello there", "site": "strict"}).json()
        reasons = strict["results"][0]["decision"]["reasons"]
        assert strict["results"][0]["decision"]["action"] == "reject"
        assert {"code": "score_reject", "label": "toxicity", "threshold": 0.0}.items() <= reasons[0].items()


def test_model_pin_loads_a_second_bundle_lazily(
    tmp_path: Path,
    dev_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    service_app_factory: Callable[..., Any],
    issue_key: Callable[..., str],
) -> None:
    manifest = read_manifest(dev_bundle)
    pinned_dir = tmp_path / "models" / manifest.name / "9.9.9"
    shutil.copytree(dev_bundle, pinned_dir, copy_function=os.link)
    (pinned_dir / "manifest.json").unlink()
    write_manifest(pinned_dir, manifest.model_copy(update={"version": "9.9.9"}))
    monkeypatch.setenv("CIVILITY_MODEL_DIR", str(tmp_path / "models"))
    app = service_app_factory()
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app)
        default = client.post("/v1/score", json={"text": TEXTS[0]}).json()
        pinned = client.post("/v1/score", json={"text": TEXTS[0], "model": f"{manifest.name}@9.9.9"})
        assert pinned.status_code == 200, pinned.text
        assert pinned.json()["model"] == f"{manifest.name}@9.9.9"
        assert pinned.json()["results"][0]["scores"] == pytest.approx(default["results"][0]["scores"])
        same = client.post("/v1/score", json={"text": "x", "model": default["model"]})
        assert same.json()["model"] == default["model"]


# Dynamic int8 quantisation scales activations per batch, so with the int8 model a text's scores
# move with the texts it is batched with (by up to ~0.1 after calibration on the dev model). The
# batching tests use the fp32 model, where batching changes nothing, so they can demand equality.


def test_concurrent_requests_each_get_their_own_scores(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str], service_scorer_fp32: Any
) -> None:
    app = service_app_factory(scorer=service_scorer_fp32)
    texts = [f"{TEXTS[i % 3]} #{i}" for i in range(24)]
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app)
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda t: client.post("/v1/score", json={"text": t}), texts))
        batches = client.get("/metrics").text
    for response, text in zip(responses, texts, strict=True):
        assert response.status_code == 200
        expected = service_scorer_fp32.score([text])[0].scores
        assert response.json()["results"][0]["scores"] == pytest.approx(expected, abs=1e-6)
    assert "civility_model_batch_size_count" in batches


def test_micro_batcher_merges_concurrent_calls(service_scorer_fp32: Any) -> None:
    sizes: list[int] = []

    async def run() -> list[list[Any]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher = MicroBatcher(
                service_scorer_fp32, executor, max_size=32, max_wait_ms=5, on_batch=sizes.append
            )
            batcher.start()
            try:
                return await asyncio.gather(*(batcher.score([t]) for t in TEXTS * 3))
            finally:
                await batcher.stop()

    results = asyncio.run(run())
    assert sizes == [1, 8] or sizes == [9], sizes  # the first call may start alone; the rest share one
    for [got], text in zip(results, TEXTS * 3, strict=True):
        assert got.scores == pytest.approx(service_scorer_fp32.score([text])[0].scores, abs=1e-6)


FUZZED_OPERATIONS = [
    ("/v1/score", "POST"),
    ("/v1alpha1/comments:analyze", "POST"),
    ("/v1alpha1/comments:suggestscore", "POST"),
    ("/v1/integrations/coral", "POST"),
]


@pytest.mark.slow
def test_generated_requests_never_cause_a_server_error(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    """Schemathesis fuzzes the scoring routes from our own OpenAPI document: 4xx, never 5xx."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error

    from civility.service.db import upgrade_database

    app = service_app_factory(max_text_chars=2000, rate_limit="100000/minute", coral_signing_secrets=["s"])
    upgrade_database(app.state.engine)
    headers = {"X-API-Key": issue_key(app)}
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    for path, method in FUZZED_OPERATIONS:
        operation = schema[path][method]

        @given(case=operation.as_strategy())
        @settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()


def test_micro_batcher_stop_finishes_queued_work(service_scorer: Any) -> None:
    async def run() -> list[list[Any]]:
        with ThreadPoolExecutor(max_workers=1) as executor:
            batcher = MicroBatcher(service_scorer, executor, max_size=2, max_wait_ms=0)
            batcher.start()
            pending = [asyncio.ensure_future(batcher.score([t])) for t in TEXTS * 2]
            await asyncio.sleep(0)  # all six are queued; the consumer has taken at most one batch
            await batcher.stop()
            # had stop() dropped queued jobs, these would never finish
            return list(await asyncio.wait_for(asyncio.gather(*pending), timeout=5))

    results = asyncio.run(run())
    assert [len(r) for r in results] == [1] * 6
