"""Operations: health, readiness, metrics, structured logs, and the real `civility serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient


def test_healthz_needs_nothing(service_app_factory: Callable[..., Any]) -> None:
    with TestClient(service_app_factory()) as client:
        response = client.get("/healthz")
        assert response.status_code == 200
        assert response.json()["status"] == "ok"


def test_readyz_with_model_and_database(
    service_app_factory: Callable[..., Any], db_url: str, service_scorer: Any
) -> None:
    with TestClient(service_app_factory(database_url=db_url)) as client:
        response = client.get("/readyz")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "status": "ready",
            "checks": {"model": {"ok": True, "ref": service_scorer.ref}, "database": {"ok": True}},
        }


def test_not_ready_without_a_model(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str]
) -> None:
    app = service_app_factory(scorer=None, preload_model=False)
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["model"]["ok"] is False
        score = client.post("/v1/score", json={"text": "hi"}, headers={"X-API-Key": issue_key(app)})
        assert score.status_code == 503
        assert score.json()["error"]["code"] == "model_unavailable"


def test_a_bad_model_ref_does_not_crash_startup(service_app_factory: Callable[..., Any]) -> None:
    app = service_app_factory(scorer=None, preload_model=True, model="no-such-model@1.0.0")
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert "no-such-model" in ready.json()["checks"]["model"]["error"]
        assert client.get("/healthz").status_code == 200


def test_not_ready_when_the_database_is_unreachable(service_app_factory: Callable[..., Any]) -> None:
    app = service_app_factory(
        database_url="postgresql+psycopg://postgres@127.0.0.1:1/none", migrate_on_start=False
    )
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["checks"]["database"]["ok"] is False
        assert ready.json()["checks"]["model"]["ok"] is True


def test_metrics_cover_routes_scores_and_model(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str], service_scorer: Any
) -> None:
    app = service_app_factory()
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app)
        assert client.post("/v1/score", json={"texts": ["hello", "you idiot"]}).status_code == 200
        assert client.post("/v1/score", json={"text": ""}).status_code == 422
        text = client.get("/metrics").text
    assert 'civility_http_requests_total{method="POST",route="/v1/score",status="200"} 1.0' in text
    assert 'civility_http_requests_total{method="POST",route="/v1/score",status="422"} 1.0' in text
    assert 'civility_http_request_duration_seconds_bucket{le="0.5",method="POST",route="/v1/score"}' in text
    assert 'civility_label_score_count{label="toxicity"} 2.0' in text
    assert f'civility_model_info{{model="{service_scorer.ref}",precision="int8"}} 1.0' in text
    assert "civility_model_batch_size_count" in text


def test_logs_are_json_with_request_ids_and_no_comment_text(
    service_app_factory: Callable[..., Any], issue_key: Callable[..., str], capsys: pytest.CaptureFixture[str]
) -> None:
    app = service_app_factory(log_json=True)
    with TestClient(app) as client:
        client.headers["X-API-Key"] = issue_key(app)
        client.post(
            "/v1/score",
            json={"text": "pineapple-marmalade-42 is a secret"},
            headers={"X-Request-ID": "rid-7"},
        )
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    records = [json.loads(line) for line in lines]
    access = [r for r in records if r.get("event") == "request" and r.get("route") == "/v1/score"]
    assert access and access[0]["request_id"] == "rid-7" and access[0]["status"] == 200
    assert "ms" in access[0] and access[0]["key_id"] is not None
    assert all("pineapple" not in line for line in lines)


def test_debug_mode_is_the_only_way_text_reaches_logs() -> None:
    from civility.service.logging import _redact_text

    event = {"event": "x", "text": "secret", "route": "/v1/score"}
    assert _redact_text(False)(None, "info", dict(event))["text"] == "[redacted]"
    assert _redact_text(True)(None, "info", dict(event))["text"] == "secret"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_civility_serve_end_to_end(tmp_path: Path, dev_bundle: Path, workers: int) -> None:
    """`civility serve` in a subprocess: migrates, loads the model, scores over HTTP, stops on SIGTERM."""
    env = {**os.environ, "CIVILITY_HOME": str(tmp_path), "OMP_NUM_THREADS": "1"}
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    created = subprocess.run(
        [
            sys.executable,
            "-m",
            "civility",
            "keys",
            "create",
            "--name",
            "e2e",
            "--role",
            "scorer",
            "--database-url",
            url,
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    token = created.stdout.strip().splitlines()[-1]
    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("w") as log:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "civility",
                "serve",
                "--port",
                str(port),
                "--database-url",
                url,
                "--model",
                str(dev_bundle),
                "--workers",
                str(workers),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 90
            with httpx.Client(base_url=base, timeout=10) as client:
                while True:
                    assert server.poll() is None, log_path.read_text()
                    try:
                        if client.get("/readyz").status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    assert time.monotonic() < deadline, log_path.read_text()
                    time.sleep(0.2)
                response = client.post(
                    "/v1/score", json={"text": "You are an idiot"}, headers={"X-API-Key": token}
                )
                assert response.status_code == 200, response.text
                assert response.json()["results"][0]["decision"]["action"] in {"allow", "review", "reject"}
                assert client.post("/v1/score", json={"text": "x"}).status_code == 401
                for _ in range(3):
                    client.post("/v1/score", json={"text": "hello"}, headers={"X-API-Key": token})
                metrics = client.get("/metrics", headers={"X-API-Key": token}).text
                # with several workers /metrics adds up every worker's counts
                assert (
                    'civility_http_requests_total{method="POST",route="/v1/score",status="200"} 4.0'
                    in metrics
                )
            server.send_signal(signal.SIGTERM)
            # uvicorn shuts down gracefully, then re-raises the signal it caught.
            assert server.wait(timeout=30) in (0, -signal.SIGTERM)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait()
    output = log_path.read_text()
    assert '"event": "stopping"' in output  # the lifespan shutdown ran: batchers drained, engine closed
    assert "You are an idiot" not in output


def test_cors_is_off_by_default_and_configurable(service_app_factory: Callable[..., Any]) -> None:
    preflight = {"Origin": "https://news.example", "Access-Control-Request-Method": "POST"}
    with TestClient(service_app_factory()) as client:
        response = client.options("/v1/score", headers=preflight)
        assert "access-control-allow-origin" not in response.headers
    with TestClient(service_app_factory(cors_origins=["https://news.example"])) as client:
        response = client.options("/v1/score", headers=preflight)
        assert response.headers["access-control-allow-origin"] == "https://news.example"


def test_db_upgrade_cli_is_idempotent(db_url: str) -> None:
    from typer.testing import CliRunner

    from civility.cli import app as cli_app

    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(cli_app, ["db", "upgrade", "--database-url", db_url])
        assert result.exit_code == 0, result.output
        assert "database at revision head" in result.output


def test_serve_with_an_unreachable_database_fails_clearly(tmp_path: Path) -> None:
    env = {**os.environ, "CIVILITY_HOME": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "civility",
            "serve",
            "--database-url",
            "postgresql+psycopg://postgres@127.0.0.1:1/x",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "database migration failed" in result.stderr
    assert "Traceback" not in result.stderr


def test_serve_with_a_missing_model_fails_before_listening(tmp_path: Path) -> None:
    env = {**os.environ, "CIVILITY_HOME": str(tmp_path), "CIVILITY_MODEL_DIR": str(tmp_path / "models")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "civility",
            "serve",
            "--port",
            str(_free_port()),
            "--model",
            "no-such-model@1.0.0",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "cannot load model no-such-model@1.0.0" in result.stderr
    assert "Traceback" not in result.stderr
