"""Shared fixtures. Teammates may append fixtures below; keep heavy imports inside fixtures.

``dev_bundle`` and ``dev_lora_bundle`` are real (tiny) models: ``configs/train/tiny.yaml`` trained
for a few seconds on ``tests/data/tiny_train.jsonl`` (hand-written comments), calibrated, and
exported once per test session as an ONNX bundle and as a LoRA bundle.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    import threading

    import uvicorn
    from datasets import DatasetDict
    from fastapi.testclient import TestClient

os.environ.setdefault("OMP_NUM_THREADS", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TESTS_DIR = Path(__file__).resolve().parent
TINY_TRAIN = TESTS_DIR / "data" / "tiny_train.jsonl"
TINY_RECIPE = "train/tiny.yaml"
TINY_HOLDOUT_FRACTION = 0.3


@pytest.fixture(scope="session")
def tiny_corpus() -> DatasetDict:
    """The hand-written tiny set as a corpus-contract DatasetDict (train / validation / test)."""
    from civility.model.labels import label_ids
    from civility.training.train_config import load_train_config
    from civility.training.trainer_data import dataset_from_label_file

    seed = load_train_config(TINY_RECIPE).seed
    return dataset_from_label_file(TINY_TRAIN, label_ids(), holdout_fraction=TINY_HOLDOUT_FRACTION, seed=seed)


@pytest.fixture(scope="session")
def dev_run(tiny_corpus: DatasetDict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished, calibrated tiny training run directory (no bundle exported)."""
    from civility.training.pipeline import run_pipeline
    from civility.training.train_config import load_train_config

    run_dir = tmp_path_factory.mktemp("dev-run") / "tiny"
    run_pipeline(load_train_config(TINY_RECIPE), tiny_corpus, run_dir, None, progress=False)
    return run_dir


@pytest.fixture(scope="session")
def dev_bundle(dev_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An ONNX-format bundle directory (``model.fp32.onnx`` + ``model.int8.onnx``) of the tiny model."""
    from civility.training.export import export_bundle

    return export_bundle(dev_run, tmp_path_factory.mktemp("dev-bundles"), fmt="onnx")


@pytest.fixture(scope="session")
def dev_lora_bundle(dev_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A LoRA-format bundle directory (``adapter/``) of the same tiny model, for materialisation."""
    from civility.training.export import export_bundle

    return export_bundle(dev_run, tmp_path_factory.mktemp("dev-lora-bundles"), fmt="lora")


# ---------------------------------------------------------------------------------------------
# Service fixtures (scoring service): a real scorer over dev_bundle, real databases (SQLite and
# PostgreSQL, each test in its own schema), apps built with create_app, API keys per role.
# ---------------------------------------------------------------------------------------------

POSTGRES_URL = os.environ.get(
    "CIVILITY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def _postgres_reachable(url: str) -> bool:
    import socket

    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    try:
        with socket.create_connection((parsed.host or "127.0.0.1", parsed.port or 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def service_scorer(dev_bundle: Path) -> Any:
    """The real scorer over the dev bundle, shared by every app in the session (thread-safe)."""
    from civility.model.scorer import Scorer

    return Scorer.load(str(dev_bundle), precision="int8", threads=1)


@pytest.fixture(scope="session")
def service_scorer_fp32(dev_bundle: Path) -> Any:
    """The fp32 scorer: a text's scores do not depend on the batch it is scored in (int8 ones do)."""
    from civility.model.scorer import Scorer

    return Scorer.load(str(dev_bundle), precision="fp32", threads=1)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'civility.db'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A fresh schema in the test PostgreSQL database, dropped afterwards."""
    if not _postgres_reachable(POSTGRES_URL):
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"civ_{uuid.uuid4().hex[:12]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest) -> str:
    """Both databases: the test runs once on SQLite and once on PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def service_settings_factory(tmp_path: Path, sqlite_url: str) -> Callable[..., Any]:
    from civility.service.settings import Settings

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "home": tmp_path,
            "database_url": sqlite_url,
            "log_level": "INFO",
            "preload_model": False,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def service_app_factory(
    service_settings_factory: Callable[..., Any], service_scorer: Any
) -> Callable[..., Any]:
    """``make(**settings_overrides)`` -> a FastAPI app with the real dev scorer."""
    from civility.service.app import create_app

    def make(scorer: Any = service_scorer, **overrides: Any) -> Any:
        return create_app(service_settings_factory(**overrides), scorer=scorer)

    return make


@pytest.fixture
def service_client(service_app_factory: Callable[..., Any]) -> Iterator[Any]:
    """A TestClient (lifespan run) on SQLite with auth on."""
    from fastapi.testclient import TestClient

    with TestClient(service_app_factory()) as client:
        yield client


@pytest.fixture
def issue_key() -> Callable[..., str]:
    """``issue_key(app, role="scorer", name=...)`` -> a fresh API token stored in the app's DB."""
    from civility.service.db.keys import Role, create_key

    def issue(app: Any, role: str = "scorer", name: str | None = None) -> str:
        with app.state.session_factory() as session:
            issued = create_key(session, name=name or f"test-{role}", role=Role.parse(role))
            session.commit()
            return issued.token

    return issue


# ---------------------------------------------------------------------------------------------
# Review queue (service/moderation): apps, API clients with real keys, live servers.
# ---------------------------------------------------------------------------------------------


@dataclass
class QueueApi:
    """A TestClient on a real app with a publisher (scorer) key and a moderator key."""

    client: TestClient
    publisher: dict[str, str]
    moderator: dict[str, str]
    counter: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    closed: bool = False

    def close(self) -> None:
        """Shut the app down (lifespan exit), e.g. to start another one on the same database."""
        if not self.closed:
            self.closed = True
            self.client.__exit__(None, None, None)

    def payload(self, **overrides: Any) -> dict[str, Any]:
        n = next(self.counter)
        body: dict[str, Any] = {
            "client_id": f"c-{n}",
            "story_id": "story-1",
            "story_url": "https://news.example/story-1",
            "author_id": f"author-{n}",
            "author_name": f"Reader {n}",
            "text": f"Comment number {n} about the council budget.",
            "created_at": "2026-11-20T10:00:00Z",
        }
        body.update(overrides)
        return body

    def submit(self, expect: int | None = 201, **overrides: Any) -> dict[str, Any]:
        response = self.client.post("/v1/comments", json=self.payload(**overrides), headers=self.publisher)
        if expect is not None:
            assert response.status_code == expect, response.text
        return dict(response.json())

    def comment(self, comment_id: int) -> dict[str, Any]:
        response = self.client.get(f"/v1/comments/{comment_id}", headers=self.moderator)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def decide(self, comment_id: int, action: str, expect: int | None = 200, **fields: Any) -> dict[str, Any]:
        if "version" not in fields:
            fields["version"] = self.comment(comment_id)["version"]
        if action == "reject" and "reason_code" not in fields:
            fields["reason_code"] = "abuse"
        response = self.client.post(
            f"/v1/comments/{comment_id}/decision", json={"action": action, **fields}, headers=self.moderator
        )
        if expect is not None:
            assert response.status_code == expect, response.text
        return dict(response.json())

    def queue(self, **params: Any) -> dict[str, Any]:
        response = self.client.get("/v1/queue", params=params, headers=self.moderator)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def audit(self, comment_id: int) -> list[dict[str, Any]]:
        response = self.client.get(f"/v1/comments/{comment_id}/audit", headers=self.moderator)
        assert response.status_code == 200, response.text
        return list(response.json())


@pytest.fixture
def allow_all_policy(tmp_path: Path) -> Path:
    """A policy with no thresholds and no word lists: every comment is allowed by the policy,
    so the author-history rules alone decide what is held."""
    path = tmp_path / "allow_all_policy.yaml"
    path.write_text("thresholds: {}\nbanned: []\nsuspect: []\n", encoding="utf-8")
    return path


@pytest.fixture
def moderation_config_file(tmp_path: Path) -> Callable[..., Path]:
    """Write a copy of the shipped moderation.yaml with ``author_history`` (and ``spans``) overrides."""

    import yaml

    from civility.model.resources import load_yaml

    def write(spans: dict[str, Any] | None = None, **author_history: Any) -> Path:
        data = load_yaml("moderation.yaml")
        data["author_history"].update(author_history)
        data["spans"].update(spans or {})
        path = tmp_path / f"moderation_{len(list(tmp_path.glob('moderation_*.yaml')))}.yaml"
        path.write_text(yaml.safe_dump(data), encoding="utf-8")
        return path

    return write


@pytest.fixture
def queue_api_factory(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str], db_url: str
) -> Iterator[Callable[..., QueueApi]]:
    """Build apps on this test's database (SQLite file or a PostgreSQL schema)."""
    from fastapi.testclient import TestClient

    stack = contextlib.ExitStack()

    def build(**settings: Any) -> QueueApi:
        settings.setdefault("database_url", db_url)
        app = service_app_factory(**settings)
        client = TestClient(app)
        client.__enter__()
        api = QueueApi(
            client=client,
            publisher={"X-API-Key": issue_key(app, "scorer")},
            moderator={"X-API-Key": issue_key(app, "moderator")},
        )
        stack.callback(api.close)
        return api

    with stack:
        yield build


@pytest.fixture
def queue_api(queue_api_factory: Callable[..., QueueApi]) -> QueueApi:
    return queue_api_factory()


@dataclass
class LiveServer:
    """A real uvicorn server in a thread, on a random loopback port."""

    url: str
    app: Any
    server: uvicorn.Server
    thread: threading.Thread


@pytest.fixture
def live_server() -> Callable[[Any], contextlib.AbstractContextManager[LiveServer]]:
    """``with live_server(app) as live: httpx.get(live.url + ...)``."""
    return run_live_server


@contextlib.contextmanager
def run_live_server(app: Any) -> Iterator[LiveServer]:
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield LiveServer(url=f"http://127.0.0.1:{port}", app=app, server=server, thread=thread)
    finally:
        server.should_exit = True
        thread.join(timeout=30)


# -- browser tests: Debian Chromium driven by Playwright (never `playwright install`) -----------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture
def live(web_app: Any, live_server: Callable[..., Any]) -> Iterator[Any]:
    """The module's ``web_app`` served by a real uvicorn on a free loopback port."""
    with live_server(web_app) as server:
        yield server


@pytest.fixture
def chromium(live: Any) -> Iterator[Any]:
    """Headless Debian Chromium. Started after the app exists: Playwright's sync API keeps an event
    loop on this thread, which must not be the one the app's scoring tasks are bound to."""
    if not CHROMIUM.exists():
        pytest.fail("Debian chromium is required: apt-get install -y chromium chromium-driver")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
