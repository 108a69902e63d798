"""Label corrections on the moderator web page: the "Correct labels" controls, the web decide
handler's validation, and the corrections reaching the audit trail and ``GET /v1/export/labels``
exactly as API decisions do (real app, real SQLite, Debian Chromium for the browser test)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from civility.model.labels import label_ids

TEXTS = [
    "The council will regret this vote, and so will you.",
    "The council are clowns and the mayor is the worst of them.",
]


@pytest.fixture
def web_app(tmp_path: Path, service_app_factory: Callable[..., Any]) -> Any:
    """Every text mentions the council (a suspect term), so each comment lands in pending."""
    policy = tmp_path / "review_policy.yaml"
    policy.write_text("thresholds: {}\nbanned: []\nsuspect: [council]\n", encoding="utf-8")
    return service_app_factory(database_url=f"sqlite:///{tmp_path / 'labels.db'}", policy_file=policy)


def _seed(client: httpx.Client | TestClient, publisher: dict[str, str]) -> list[tuple[int, str]]:
    """(id, client_id) of each submitted comment."""
    seeded = []
    for n, text in enumerate(TEXTS):
        client_id = f"labels-{n}"
        response = client.post(
            "/v1/comments",
            json={"client_id": client_id, "story_id": "story-1", "author_id": f"reader-{n}", "text": text},
            headers=publisher,
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "pending"
        seeded.append((int(response.json()["id"]), client_id))
    return seeded


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def _export(client: httpx.Client | TestClient, headers: dict[str, str]) -> dict[str, dict[str, float]]:
    response = client.get("/v1/export/labels", headers=headers)
    assert response.status_code == 200, response.text
    records = [json.loads(line) for line in response.text.splitlines() if line.strip()]
    return {record["id"]: record["labels"] for record in records}


# ---------------------------------------------------------------- server-side (no browser) ----


def test_invalid_label_fields_are_refused_and_write_nothing(
    web_app: Any, issue_key: Callable[..., str]
) -> None:
    with TestClient(web_app) as client:
        [(comment_id, client_id), _] = _seed(client, {"X-API-Key": issue_key(web_app, "scorer")})
        moderator = {"X-API-Key": issue_key(web_app, "moderator")}
        token = _csrf(client.get("/moderate/login").text)
        client.post("/moderate/login", data={"csrf_token": token, "api_key": moderator["X-API-Key"]})

        page = client.get(f"/moderate/comments/{comment_id}")
        assert page.status_code == 200
        html = page.text
        token = _csrf(html)  # signing in starts a fresh session with a new token
        # One three-state control per configured label, "not set" checked, the model score beside it.
        scores = client.get(f"/v1/comments/{comment_id}", headers=moderator).json()["scores"]
        for label in label_ids():
            radios = re.findall(
                rf'<input type="radio" form="reject-{comment_id}" name="label\.{label}"'
                r' value="([^"]*)"( checked)?>',
                html,
            )
            assert radios == [("", " checked"), ("yes", ""), ("no", "")], label
            shown = re.search(rf'id="correct-{comment_id}-{label}">.*?model (\d+)%', html, re.S)
            assert shown and int(shown.group(1)) == round(scores[label] * 100), label

        base = {"csrf_token": token, "action": "reject", "version": "1", "reason_code": "spam"}
        bad_forms: list[dict[str, str | list[str]]] = [
            {"label.threat": "maybe"},
            {"label.threat": "1"},
            {"label.not_a_label": "yes"},
            {"label.threat": ["yes", "no"]},
        ]
        for bad in bad_forms:
            refused = client.post(
                f"/moderate/comments/{comment_id}/decide", data={**base, **bad}, follow_redirects=False
            )
            assert refused.status_code == 422, (bad, refused.status_code)
            assert "Decision not recorded" in refused.text and "Nothing was changed" in refused.text
        as_json = client.post(
            f"/moderate/comments/{comment_id}/decide",
            data={**base, "label.insult": "maybe"},
            headers={"Accept": "application/json"},
        )
        assert as_json.status_code == 422
        assert as_json.json()["ok"] is False and as_json.json()["error"]["code"] == "invalid_input"

        comment = client.get(f"/v1/comments/{comment_id}", headers=moderator).json()
        assert (comment["status"], comment["version"], comment["corrected_labels"]) == ("pending", 1, None)
        audit = client.get(f"/v1/comments/{comment_id}/audit", headers=moderator).json()
        assert [entry["action"] for entry in audit] == ["submit"]
        assert f"civility:{client_id}" not in _export(client, moderator)


def test_not_set_sends_no_correction_and_set_labels_are_recorded(
    web_app: Any, issue_key: Callable[..., str]
) -> None:
    with TestClient(web_app) as client:
        [(first, first_client), (second, _)] = _seed(client, {"X-API-Key": issue_key(web_app, "scorer")})
        moderator = {"X-API-Key": issue_key(web_app, "moderator")}
        token = _csrf(client.get("/moderate/login").text)
        client.post("/moderate/login", data={"csrf_token": token, "api_key": moderator["X-API-Key"]})
        token = _csrf(client.get("/moderate").text)  # signing in starts a fresh session with a new token
        every_label_not_set = {f"label.{label}": "" for label in label_ids()}

        plain = client.post(
            f"/moderate/comments/{first}/decide",
            data={"csrf_token": token, "action": "approve", "version": "1", **every_label_not_set},
            follow_redirects=False,
        )
        assert plain.status_code == 303
        assert client.get(f"/v1/comments/{first}", headers=moderator).json()["corrected_labels"] is None
        assert _export(client, moderator)[f"civility:{first_client}"] == dict.fromkeys(label_ids(), 0.0)

        corrected = client.post(
            f"/moderate/comments/{second}/decide",
            data={
                "csrf_token": token,
                "action": "approve",
                "version": "1",
                **every_label_not_set,
                "label.profanity": "yes",
            },
            headers={"Accept": "application/json"},
        )
        assert corrected.status_code == 200 and corrected.json()["ok"], corrected.text
        assert client.get(f"/v1/comments/{second}", headers=moderator).json()["corrected_labels"] == {
            "profanity": 1.0
        }
        audit = client.get(f"/v1/comments/{second}/audit", headers=moderator).json()
        assert audit[-1]["action"] == "approve" and audit[-1]["labels"] == {"profanity": 1.0}


# ---------------------------------------------------------------- browser (slow) --------------


@pytest.mark.slow
@pytest.mark.browser
def test_correcting_labels_in_chromium_reaches_the_export(
    chromium: Any, live: Any, issue_key: Callable[..., str]
) -> None:
    publisher = {"X-API-Key": issue_key(live.app, "scorer")}
    moderator = {"X-API-Key": issue_key(live.app, "moderator", name="morgan")}
    with httpx.Client(base_url=live.url) as api:
        [(first, first_client), (second, second_client)] = _seed(api, publisher)

    context = chromium.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live.url}/moderate/login")
        page.fill("#api_key", moderator["X-API-Key"])
        page.click("button[type=submit]")
        page.wait_for_url(f"{live.url}/moderate")

        # The comment page: one "not set / yes / no" control per label, nothing set by default.
        page.goto(f"{live.url}/moderate/comments/{first}")
        card = page.locator(f"#comment-{first}")
        rows = card.locator("[data-corrections] .correction")
        assert rows.count() == len(label_ids())
        assert card.locator('[data-corrections] input[value=""]:checked').count() == len(label_ids())
        for label in ("threat", "insult"):
            shown = card.locator(f'li.score[data-label="{label}"] .score-value').inner_text()
            assert f"model {shown}" in card.locator(f'.correction[data-label="{label}"]').inner_text()
        card.locator('.correction[data-label="threat"] input[value="yes"]').check()
        card.locator('.correction[data-label="insult"] input[value="no"]').check()

        # Reject (spam: a reason that maps to no labels, so the export shows only the corrections).
        card.locator(".reject-summary").click()
        page.select_option(f"#reason-{first}", "spam")
        page.fill(f"#explanation-{first}", "Posted in every thread")
        card.locator('form[data-action="reject"] button[type=submit]').click()
        expect(card).to_have_attribute("data-status", "rejected")
        expect(card.locator("[data-corrected-labels]")).to_have_text(
            "Corrected labels: Insult: no, Threat: yes"
        )
        assert f"Rejected comment {first}" in page.locator("#flash").inner_text()
        # The re-rendered card is still the comment page's card (controls back to "not set").
        assert card.locator('[data-corrections] input[value=""]:checked').count() == len(label_ids())

        page.reload()
        reject_row = page.locator("table.audit tbody tr.audit-reject")
        expect(reject_row.locator(".audit-labels")).to_have_text("Insult: no, Threat: yes")

        # The queue's reject dialog (keyboard: r, pick a reason with 1, Enter) corrects one label.
        page.goto(f"{live.url}/moderate")
        queue_card = page.locator(f"#comment-{second}")
        queue_card.focus()
        page.keyboard.press("r")
        dialog = page.locator("#reject-dialog")
        expect(dialog).to_be_visible()
        corrections = dialog.locator("[data-dialog-corrections]")
        expect(corrections).to_be_visible()
        corrections.locator("summary").click()
        shown = queue_card.locator('li.score[data-label="insult"] .score-value').inner_text()
        expect(corrections.locator('.correction[data-label="insult"] [data-model-score]')).to_have_text(
            f"model {shown}"
        )
        corrections.locator('.correction[data-label="insult"] input[value="yes"]').check()
        page.keyboard.press("1")  # abuse: labels toxicity 1
        page.keyboard.press("Enter")
        expect(queue_card).to_have_attribute("data-status", "rejected")
        assert errors == []
    finally:
        context.close()

    with httpx.Client(base_url=live.url, headers=moderator) as api:
        exported = _export(api, moderator)
        first_comment = api.get(f"/v1/comments/{first}").json()
        first_audit = api.get(f"/v1/comments/{first}/audit").json()
        second_comment = api.get(f"/v1/comments/{second}").json()
    assert exported[f"civility:{first_client}"] == {"threat": 1.0, "insult": 0.0}
    assert first_comment["corrected_labels"] == {"threat": 1.0, "insult": 0.0}
    assert first_comment["decision_reason"] == "spam"
    assert [entry["action"] for entry in first_audit] == ["submit", "reject"]
    assert first_audit[1]["actor"] == "morgan" and first_audit[1]["labels"] == {"threat": 1.0, "insult": 0.0}
    # The reason's labels plus the correction, exactly as for an API decision.
    assert second_comment["corrected_labels"] == {"insult": 1.0}
    assert exported[f"civility:{second_client}"] == {"toxicity": 1.0, "insult": 1.0}
