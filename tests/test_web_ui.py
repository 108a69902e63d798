"""The moderator web page: server-side checks (login, CSRF, escaping) and end-to-end runs in
headless Chromium (Debian's /usr/bin/chromium driven by Playwright) against a live server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from civility.service.db.keys import Role
from civility.service.moderation.accounts import create_account

ARTIFACTS = Path(__file__).parent / "artifacts"
XSS_TEXT = 'Council <script>window.__xss = 1</script><img src=x onerror="window.__xss = 2"> & more'
SEED_TEXTS = [
    "The council should publish the budget before the vote.",
    "Why does the council never answer questions about parking?",
    XSS_TEXT,
    "The council meeting ran three hours and decided nothing.",
    "Good to see the council listening to residents for once.",
]


@pytest.fixture
def review_everything_policy(tmp_path: Path) -> Path:
    """Every seeded comment mentions the council: a suspect term, so each lands in pending with a
    word-list reason (highlighted in the card) whatever the model scores."""
    path = tmp_path / "review_policy.yaml"
    path.write_text("thresholds: {}\nbanned: []\nsuspect: [council]\n", encoding="utf-8")
    return path


@pytest.fixture
def web_app(tmp_path: Path, service_app_factory: Callable[..., Any], review_everything_policy: Path) -> Any:
    return service_app_factory(
        database_url=f"sqlite:///{tmp_path / 'web.db'}", policy_file=review_everything_policy
    )


def _seed(client: httpx.Client | TestClient, publisher: dict[str, str]) -> list[int]:
    ids = []
    for n, text in enumerate(SEED_TEXTS):
        response = client.post(
            "/v1/comments",
            json={
                "client_id": f"web-{n}",
                "story_id": f"story-{n % 2}",
                "story_url": f"https://news.example/story-{n % 2}",
                "author_id": f"reader-{n}",
                "author_name": f"Reader {n}",
                "text": text,
            },
            headers=publisher,
        )
        assert response.status_code == 201, response.text
        assert response.json()["status"] == "pending"
        ids.append(response.json()["id"])
    return ids


def _csrf(html: str) -> str:
    match = re.search(r'name="csrf-token" content="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1)


# ---------------------------------------------------------------- server-side (no browser) ----


def test_pages_need_a_login_and_forms_need_the_csrf_token(
    web_app: Any, issue_key: Callable[..., str]
) -> None:
    with TestClient(web_app) as client:
        publisher = {"X-API-Key": issue_key(web_app, "scorer")}
        [first, *_] = _seed(client, publisher)
        page = client.get("/moderate", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"].startswith("/moderate/login")

        login_page = client.get("/moderate/login")
        token = _csrf(login_page.text)
        scorer_login = client.post(
            "/moderate/login", data={"csrf_token": token, "api_key": publisher["X-API-Key"]}
        )
        assert scorer_login.status_code == 403 and "moderator role" in scorer_login.text
        bad_login = client.post("/moderate/login", data={"csrf_token": token, "api_key": "cvl_wrong"})
        assert bad_login.status_code == 401
        forged = client.post("/moderate/login", data={"api_key": issue_key(web_app, "moderator")})
        assert forged.status_code == 403

        moderator_key = issue_key(web_app, "moderator")
        ok = client.post(
            "/moderate/login", data={"csrf_token": token, "api_key": moderator_key}, follow_redirects=False
        )
        assert ok.status_code == 303
        queue = client.get("/moderate")
        assert queue.status_code == 200
        assert "Pending" in queue.text
        no_token = client.post(f"/moderate/comments/{first}/decide", data={"action": "approve", "version": 1})
        assert no_token.status_code == 403
        assert (
            client.get(f"/v1/comments/{first}", headers={"X-API-Key": moderator_key}).json()["version"] == 1
        )


def test_comment_text_is_escaped_and_terms_are_highlighted(
    web_app: Any, issue_key: Callable[..., str]
) -> None:
    with TestClient(web_app) as client:
        _seed(client, {"X-API-Key": issue_key(web_app, "scorer")})
        token = _csrf(client.get("/moderate/login").text)
        client.post("/moderate/login", data={"csrf_token": token, "api_key": issue_key(web_app, "moderator")})
        page = client.get("/moderate")
    html = page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>window.__xss" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    assert "<img src=x" not in html
    assert re.search(r"<mark[^>]*>Council</mark>", html)


def test_password_accounts_can_sign_in_and_disabled_ones_cannot(web_app: Any) -> None:
    with TestClient(web_app) as client:
        with web_app.state.session_factory() as session:
            create_account(
                session, username="erin", password="a long passphrase", role=Role.moderator, created_by="test"
            )
            session.commit()
        token = _csrf(client.get("/moderate/login").text)
        wrong = client.post(
            "/moderate/login", data={"csrf_token": token, "username": "erin", "password": "nope"}
        )
        assert wrong.status_code == 401
        right = client.post(
            "/moderate/login",
            data={"csrf_token": token, "username": "erin", "password": "a long passphrase"},
            follow_redirects=False,
        )
        assert right.status_code == 303
        assert "Signed in as <strong>erin</strong>" in client.get("/moderate").text
        from civility.service.moderation.accounts import disable_account

        with web_app.state.session_factory() as session:
            disable_account(session, "erin")
            session.commit()
        after = client.get("/moderate", follow_redirects=False)
        assert after.status_code == 303, "a disabled account keeps no access through its old session"


# ---------------------------------------------------------------- browser (slow) --------------


def _cards(page: Any) -> list[str]:
    return list(page.eval_on_selector_all("article.card", "cards => cards.map(c => c.dataset.id)"))


def _current(page: Any) -> str:
    return str(page.eval_on_selector("article.card.current", "c => c.dataset.id"))


def _status(page: Any, comment_id: str) -> str:
    return str(page.get_attribute(f"#comment-{comment_id}", "data-status"))


@pytest.mark.slow
@pytest.mark.browser
def test_moderating_with_the_keyboard_in_chromium(
    chromium: Any, live: Any, issue_key: Callable[..., str]
) -> None:
    publisher = {"X-API-Key": issue_key(live.app, "scorer")}
    moderator_key = issue_key(live.app, "moderator", name="morgan")
    with httpx.Client(base_url=live.url) as api:
        _seed(api, publisher)

    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{live.url}/moderate")
        assert "/moderate/login" in page.url
        page.fill("#api_key", "cvl_not_a_key")
        page.click("button[type=submit]")
        assert page.locator(".flash-error").inner_text().startswith("Unknown API key")
        page.fill("#api_key", moderator_key)
        page.click("button[type=submit]")
        page.wait_for_url(f"{live.url}/moderate")
        assert "Signed in as morgan" in page.locator(".flash-success").inner_text()

        # The XSS comment is shown as text and its script never ran.
        xss_card = page.locator("article.card", has_text="window.__xss = 1")
        assert "<script>window.__xss = 1</script>" in xss_card.locator("blockquote").inner_text()
        assert page.evaluate("window.__xss") is None

        ids = _cards(page)
        assert len(ids) == len(SEED_TEXTS)
        assert _current(page) == ids[0]
        page.keyboard.press("j")
        page.keyboard.press("j")
        assert _current(page) == ids[2]
        page.keyboard.press("k")
        assert _current(page) == ids[1]
        page.keyboard.press("k")
        assert _current(page) == ids[0]

        # a: approve the current comment; the focus moves on to the next one.
        page.keyboard.press("a")
        expect(page.locator(f"#comment-{ids[0]}")).to_have_attribute("data-status", "approved")
        assert f"Approved comment {ids[0]}" in page.locator("#flash").inner_text()
        assert _current(page) == ids[1]

        # r: reject with a reason picked by number, and an explanation.
        page.keyboard.press("r")
        dialog = page.locator("#reject-dialog")
        assert dialog.is_visible()
        page.keyboard.press("6")  # the sixth reason in configs/moderation.yaml: spam
        page.fill("#reject-explanation", "Advertising a shop")
        page.locator("#reject-dialog button[value=confirm]").click()
        expect(page.locator(f"#comment-{ids[1]}")).to_have_attribute("data-status", "rejected")
        card = page.locator(f"#comment-{ids[1]}")
        assert "Spam" in card.inner_text() and "Advertising a shop" in card.inner_text()
        assert _current(page) == ids[2]

        # u: undo the rejection (back to pending, as the system decided).
        page.keyboard.press("k")
        page.keyboard.press("u")
        expect(page.locator(f"#comment-{ids[1]}")).to_have_attribute("data-status", "pending")
        assert "Undone" in page.locator("#flash").inner_text()

        # x selects; bulk approve the selection.
        page.keyboard.press("j")
        page.keyboard.press("x")
        page.keyboard.press("j")
        page.keyboard.press("x")
        assert page.locator("#selected-count").inner_text() == "2 selected"
        page.click("#bulk-approve")
        for comment_id in ids[2:4]:
            expect(page.locator(f"#comment-{comment_id}")).to_have_attribute("data-status", "approved")
        assert "Approved 2 comments" in page.locator("#flash").inner_text()
        assert page.locator('[data-count="pending"]').inner_text() == "2"
        assert page.locator('[data-count="approved"]').inner_text() == "3"

        # ?: the help overlay opens and closes.
        page.keyboard.press("?")
        help_dialog = page.locator("#help-dialog")
        assert help_dialog.is_visible() and "Keyboard shortcuts" in help_dialog.inner_text()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "moderation_help.png"))
        page.keyboard.press("Escape")
        assert not help_dialog.is_visible()
        page.screenshot(path=str(ARTIFACTS / "moderation_queue.png"), full_page=True)

        # The audit trail shows every action with the moderator's name.
        page.goto(f"{live.url}/moderate/comments/{ids[1]}")
        rows = page.locator("table.audit tbody tr")
        assert rows.count() == 3
        actions = [rows.nth(i).locator(".audit-action").inner_text() for i in range(3)]
        assert actions[0] == "submit" and actions[1] == "reject" and actions[2].startswith("undo")
        assert "morgan" in rows.nth(1).inner_text() and "spam" in rows.nth(1).inner_text()
        page.screenshot(path=str(ARTIFACTS / "moderation_audit.png"), full_page=True)

        # The author link leads to the author's history.
        page.goto(f"{live.url}/moderate")
        author_link = page.locator(f"#comment-{ids[4]} .author a")
        author_name = author_link.inner_text()
        author_link.click()
        assert page.locator("h1").inner_text().startswith(author_name)
        assert "Rejection rate" in page.locator(".stats").inner_text()
        assert errors == []
    finally:
        context.close()

    with httpx.Client(base_url=live.url, headers={"X-API-Key": moderator_key}) as api:
        statuses = {cid: api.get(f"/v1/comments/{cid}").json()["status"] for cid in ids}
    assert statuses == {
        ids[0]: "approved",
        ids[1]: "pending",
        ids[2]: "approved",
        ids[3]: "approved",
        ids[4]: "pending",
    }
