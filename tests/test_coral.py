"""Coral Talk External Moderation Phase webhook: signatures, payload, response contract."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from civility.model.labels import label_ids

URL = "/v1/integrations/coral"
SECRET = "coral-signing-secret-1"
# Coral's response schema (phases/external.ts): the values it accepts.
CORAL_STATUSES = {"APPROVED", "NONE", "PREMOD", "REJECTED", "SYSTEM_WITHHELD"}
CORAL_DETECTED_REASONS = {
    "COMMENT_DETECTED_TOXIC",
    "COMMENT_DETECTED_SPAM",
    "COMMENT_DETECTED_LINKS",
    "COMMENT_DETECTED_BANNED_WORD",
    "COMMENT_DETECTED_SUSPECT_WORD",
    "COMMENT_DETECTED_RECENT_HISTORY",
    "COMMENT_DETECTED_PREMOD_USER",
    "COMMENT_DETECTED_REPEAT_POST",
}


def coral_payload(body: str, **overrides: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "tenant": {"id": "tenant-1", "domain": "news.example"},
        "action": "NEW",
        "comment": {"body": body, "parentID": None},
        "author": {"id": "user-1", "role": "COMMENTER"},
        "story": {"id": "story-1", "url": "https://news.example/story-1"},
        "site": {"id": "site-1"},
    }
    payload.update(overrides)
    return payload


def coral_sign(secret: str, raw: bytes) -> str:
    """How Coral signs (models/settings generateSignature): HMAC-SHA256 hex of the raw body."""
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def post(client: Any, payload: dict[str, Any], signature: str | None = "auto", secret: str = SECRET) -> Any:
    raw = json.dumps(payload, indent=2).encode()  # Coral sends JSON.stringify(data, null, 2)
    headers = {"Content-Type": "application/json", "User-Agent": "Coral Moderation/9.0.0"}
    if signature == "auto":
        headers["X-Coral-Signature"] = coral_sign(secret, raw)
    elif signature is not None:
        headers["X-Coral-Signature"] = signature
    return client.post(URL, content=raw, headers=headers)


@pytest.fixture
def policy_file(tmp_path: Path) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "thresholds": {"toxicity": {"review": 0.0, "reject": None}},
                "banned": ["kill yourself"],
                "suspect": ["idiot"],
                "sites": {"quiet": {"thresholds": {"toxicity": {"review": None}}}},
            }
        )
    )
    return path


@pytest.fixture
def client(service_app_factory: Callable[..., Any], policy_file: Path) -> Iterator[Any]:
    app = service_app_factory(coral_signing_secrets=["old-secret", SECRET], policy_file=policy_file)
    with TestClient(app) as test_client:
        yield test_client


def test_flags_with_coral_reasons_and_metadata(client: Any, service_scorer: Any) -> None:
    response = post(client, coral_payload("<p>You are an <b>idiot</b>.</p>"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "SYSTEM_WITHHELD"
    assert body["status"] in CORAL_STATUSES
    reasons = [action["reason"] for action in body["actions"]]
    assert sorted(reasons) == [
        "COMMENT_DETECTED_SUSPECT_WORD",
        "COMMENT_DETECTED_TOXIC",
    ]  # one FLAG per reason
    for action in body["actions"]:
        assert action["actionType"] == "FLAG"
        assert action["reason"] in CORAL_DETECTED_REASONS
        assert isinstance(action["additionalDetails"], str) and action["additionalDetails"]
    assert body["tags"] == []
    meta = body["metadata"]["civility"]
    assert meta["model"] == service_scorer.ref
    assert set(meta["scores"]) == set(label_ids())
    # scored on the HTML-stripped text
    expected = service_scorer.score(["You are an idiot."])[0].scores
    assert meta["scores"]["toxicity"] == pytest.approx(expected["toxicity"], abs=1e-3)


def test_banned_word_rejects(client: Any) -> None:
    body = post(client, coral_payload("Just kill yourself", action="EDIT")).json()
    assert body["status"] == "REJECTED"
    assert "COMMENT_DETECTED_BANNED_WORD" in [a["reason"] for a in body["actions"]]


def test_no_opinion_is_204(client: Any) -> None:
    response = post(client, coral_payload("Lovely weather for the match.", site={"id": "quiet"}))
    assert response.status_code == 204
    assert response.content == b""
    empty = post(client, coral_payload("<p> </p>"))
    assert empty.status_code == 204
    invisible = post(client, coral_payload("<p>\u200b&nbsp;</p>"))
    assert invisible.status_code == 204


def test_html_is_stripped_safely(client: Any) -> None:
    markup = '<script>alert("idiot")</script><style>b{}</style><p>Nice <a href="x">point</a></p>'
    response = post(client, coral_payload(markup, site={"id": "quiet"}))
    assert response.status_code == 204  # the word inside <script> is not text


def test_tenant_id_variant_is_accepted(client: Any) -> None:
    payload = coral_payload("You idiot")
    del payload["tenant"]
    payload["tenantID"] = "tenant-1"
    assert post(client, payload).status_code == 200


def test_rotated_secrets_and_multiple_signatures(client: Any) -> None:
    payload = coral_payload("You idiot")
    raw = json.dumps(payload, indent=2).encode()
    header = f"{coral_sign('expired-unknown', raw)},{coral_sign('old-secret', raw)}"
    response = client.post(
        URL, content=raw, headers={"Content-Type": "application/json", "X-Coral-Signature": header}
    )
    assert response.status_code == 200


@pytest.mark.parametrize(
    ("signature", "code"),
    [
        (None, "missing_signature"),
        ("sha256=" + "0" * 64, "invalid_signature"),
        ("garbage", "invalid_signature"),
    ],
)
def test_bad_signatures_are_refused(client: Any, signature: str | None, code: str) -> None:
    response = post(client, coral_payload("You idiot"), signature=signature)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == code


def test_signature_over_a_different_body_is_refused(client: Any) -> None:
    signed = json.dumps(coral_payload("hello"), indent=2).encode()
    tampered = json.dumps(coral_payload("You idiot"), indent=2).encode()
    response = client.post(
        URL,
        content=tampered,
        headers={"Content-Type": "application/json", "X-Coral-Signature": coral_sign(SECRET, signed)},
    )
    assert response.status_code == 401


def test_invalid_payload_is_422(client: Any) -> None:
    response = post(client, {"comment": {"parentID": None}})
    assert response.status_code == 422
    assert response.json()["error"]["details"]["errors"][0]["loc"] == ["comment", "body"]
    raw = b"{not json"
    broken = client.post(URL, content=raw, headers={"X-Coral-Signature": coral_sign(SECRET, raw)})
    assert broken.status_code == 422


def test_unconfigured_secret_is_refused(service_app_factory: Callable[..., Any]) -> None:
    with TestClient(service_app_factory()) as client:
        response = post(client, coral_payload("hi"))
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "coral_not_configured"


def test_over_budget_fails_open_with_204(service_app_factory: Callable[..., Any], policy_file: Path) -> None:
    app = service_app_factory(coral_signing_secrets=[SECRET], policy_file=policy_file, coral_budget_ms=0.001)
    with TestClient(app) as client:
        assert post(client, coral_payload("You idiot " * 200)).status_code == 204
