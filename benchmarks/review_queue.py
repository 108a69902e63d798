"""Review-queue benchmark: submission, queue listing and decisions over HTTP, against `/v1/score`.

Runs the real app (uvicorn on loopback, in a thread) on a fresh SQLite file or the PostgreSQL URL
given, with real API keys, and measures in the same run:

* baseline: `POST /v1/score` for one comment (sequential, one keep-alive connection);
* `POST /v1/comments` (score + policy + author history + insert + audit row + commit), sequential;
* an idempotent retry of an already stored comment;
* submission throughput with 8 concurrent clients;
* `GET /v1/queue` (50 per page) on the stored comments: priority sort, and a label + score filter;
* `POST /v1/comments/{id}/decision`.

Prints p50/p95 and ratios against the baseline. Timings on shared machines vary by up to ~40%
between runs: compare the ratios from one run.

    .venv/bin/python benchmarks/review_queue.py [--model REF] [--database-url URL] [--n 200] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

COMMENTS = [
    "This is the best analysis of the budget I have read all year, thank you.",
    "You clearly didn't read the article, it says the opposite of what you claim.",
    "What a stupid take. Do you even live here?",
    "The council should publish the full report before the vote next week.",
    "Shut up, nobody cares about your opinion, idiot.",
    "Great photos! Which lens did the photographer use for the harbour shots?",
]


def _percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {"p50_ms": round(statistics.median(ordered) * 1000, 2), "p95_ms": round(p95 * 1000, 2)}


def _timed(call: Callable[[int], Any], n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        call(i)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default=None, help="model ref or bundle directory (default: the default bundle)"
    )
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument("--n", type=int, default=200, help="requests per sequential measurement")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument(
        "--spans",
        choices=["held", "all", "none"],
        default="held",
        help="which comments get spans (store_for)",
    )
    args = parser.parse_args()

    import httpx
    import uvicorn
    import yaml

    from civility.model.resources import load_yaml
    from civility.model.scorer import Scorer
    from civility.service.app import create_app
    from civility.service.db import upgrade_database
    from civility.service.db.keys import Role, create_key
    from civility.service.settings import Settings

    home = Path(tempfile.mkdtemp(prefix="civility-queue-bench-"))
    url = args.database_url or f"sqlite:///{home / 'bench.db'}"
    moderation = load_yaml("moderation.yaml")
    moderation["spans"]["store_for"] = args.spans
    moderation_file = home / "moderation.yaml"
    moderation_file.write_text(yaml.safe_dump(moderation), encoding="utf-8")
    scorer = Scorer.load(args.model, threads=1)
    app = create_app(
        Settings(
            home=home, database_url=url, preload_model=False, log_level="WARNING", rate_limit="1000000/minute"
        ),
        scorer=scorer,
    )
    upgrade_database(url)
    with app.state.session_factory() as session:
        publisher = create_key(session, name="bench-publisher", role=Role.scorer).token
        moderator = create_key(session, name="bench-moderator", role=Role.moderator).token
        session.commit()

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    base = f"http://127.0.0.1:{port}"
    results: dict[str, Any] = {
        "model": scorer.ref,
        "database": url.split(":", 1)[0],
        "n": args.n,
        "spans": args.spans,
    }
    try:
        with httpx.Client(base_url=base, headers={"X-API-Key": publisher}, timeout=60) as client:
            mod = {"X-API-Key": moderator}

            def payload(i: int, prefix: str = "seq") -> dict[str, Any]:
                return {
                    "client_id": f"{prefix}-{i}",
                    "story_id": f"story-{i % 10}",
                    "author_id": f"author-{i % 50}",
                    "text": f"{COMMENTS[i % len(COMMENTS)]} ({prefix} {i})",
                }

            for i in range(10):  # warm-up
                client.post("/v1/score", json={"text": COMMENTS[i % len(COMMENTS)]})
            score = _timed(
                lambda i: client.post("/v1/score", json={"text": COMMENTS[i % len(COMMENTS)]}), args.n
            )
            submit = _timed(lambda i: client.post("/v1/comments", json=payload(i)).raise_for_status(), args.n)
            replay = _timed(lambda i: client.post("/v1/comments", json=payload(i)).raise_for_status(), args.n)

            def concurrent_submit(i: int) -> None:
                with httpx.Client(base_url=base, headers={"X-API-Key": publisher}, timeout=60) as own:
                    for j in range(i, i + args.n // 8):
                        own.post("/v1/comments", json=payload(j, "par")).raise_for_status()

            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                list(pool.map(concurrent_submit, range(0, args.n, args.n // 8)))
            elapsed = time.perf_counter() - start
            submitted = 8 * (args.n // 8)

            listing = _timed(
                lambda i: client.get(
                    "/v1/queue", params={"queue": "all", "limit": 50}, headers=mod
                ).raise_for_status(),
                args.n // 2,
            )
            filtered = _timed(
                lambda i: client.get(
                    "/v1/queue",
                    params={
                        "queue": "all",
                        "label": "toxicity",
                        "min_score": 0.1,
                        "sort": "score",
                        "limit": 50,
                    },
                    headers=mod,
                ).raise_for_status(),
                args.n // 2,
            )
            ids = [
                item["id"]
                for item in client.get(
                    "/v1/queue", params={"queue": "all", "limit": 500}, headers=mod
                ).json()["items"]
            ]
            decide = _timed(
                lambda i: client.post(
                    f"/v1/comments/{ids[i]}/decision", json={"action": "approve", "version": 1}, headers=mod
                ).raise_for_status(),
                min(args.n, len(ids)),
            )
            stored = client.get("/v1/queue/counts", headers=mod).json()["all"]
    finally:
        server.should_exit = True
        thread.join(timeout=30)

    baseline = statistics.median(score)
    for name, samples in [
        ("score_baseline", score),
        ("submit", submit),
        ("submit_retry", replay),
        ("queue_list", listing),
        ("queue_label_filter", filtered),
        ("decision", decide),
    ]:
        results[name] = {
            **_percentiles(samples),
            "p50_vs_score": round(statistics.median(samples) / baseline, 2),
        }
    results["submit_throughput_8_clients_per_s"] = round(submitted / elapsed, 1)
    results["stored_comments"] = stored
    print(json.dumps(results, indent=2))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
