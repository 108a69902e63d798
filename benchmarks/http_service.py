"""HTTP serving benchmark: `POST /v1/score` over loopback against the model in-process.

Starts `civility serve` in a subprocess (real uvicorn + httptools/uvloop, a real API key and
SQLite database), then measures in the same run:

* in-process: single-comment latency (p50/p95) of the scorer exactly as one server worker runs it
  (the same ONNX intra-op thread count, ``--onnx-threads``), and batched throughput with as many
  ONNX threads in total as the whole server has (workers x onnx threads);
* HTTP: single-comment latency on one keep-alive connection, and throughput with 1, 8 and
  32 concurrent keep-alive clients (a small asyncio HTTP/1.1 load generator, so the client
  costs little CPU next to the server).

Prints ratios against the targets (HTTP p50 within 2x of in-process p50; throughput at 32
clients at least 70% of in-process batched throughput). Timings on shared machines vary by
up to ~40% between runs: compare the ratios from one run.

    .venv/bin/python benchmarks/http_service.py [--model REF] [--workers N] [--onnx-threads T] [--json OUT]

A single request is served by one worker's scorer, so the latency ratio compares like with like:
HTTP p50 against the same scorer (same threads) called directly. Up to 2026-11-21 the in-process
figure used workers x threads ONNX threads, i.e. it compared a 1-thread worker against a 2-thread
scorer; that asymmetry alone was worth about 1.5x on 2 cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's directory comes first on sys.path and "http.py" would shadow the
# standard library's http package (which uvicorn and httpx import). Drop it before anything else.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path.pop(0)

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field

COMMENTS = [
    "This is the best analysis of the budget I have read all year, thank you.",
    "You clearly didn't read the article, it says the opposite of what you claim.",
    "What a stupid take. Do you even live here?",
    "The council should publish the full report before the vote next week.",
    "I disagree with the mayor, but this piece is fair to both sides.",
    "Shut up, nobody cares about your opinion, idiot.",
    "My grandmother lived on this street for fifty years and she would have hated this plan.",
    "Great photos! Which lens did the photographer use for the harbour shots?",
    "People like you are the reason this country is going down the drain.",
    "Could the reporter clarify where the 40% figure comes from? The linked study says 14%.",
    "Honestly this is fucking brilliant journalism.",
    "Someone should teach these politicians a lesson they won't forget.",
    "As a nurse I can confirm the staffing numbers in this story are accurate.",
    "lol ok",
    "The referee was terrible tonight but we still deserved to lose, we played badly.",
    "I have lived here 30 years and the traffic has never been this bad; the new lights made it worse,"
    " not better, and nobody from the council has answered my letters since March.",
]
PERCENTILES = (50, 95)


@dataclass
class Latency:
    n: int
    p50_ms: float
    p95_ms: float
    mean_ms: float


@dataclass
class Throughput:
    concurrency: int
    requests: int
    seconds: float
    per_second: float
    p50_ms: float
    p95_ms: float
    errors: int = 0


@dataclass
class Report:
    model: str
    workers: int
    onnx_threads: int
    cpu_count: int
    in_process_single: Latency | None = None
    in_process_batched_per_second: float = 0.0
    in_process_batch_size: int = 0
    http_single: Latency | None = None
    http_throughput: list[Throughput] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: dict[str, str] = field(default_factory=dict)


def latency(samples_s: list[float]) -> Latency:
    ms = sorted(s * 1000 for s in samples_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return Latency(n=len(ms), p50_ms=q[49], p95_ms=q[94], mean_ms=statistics.fmean(ms))


# -- in-process --------------------------------------------------------------------------------


def measure_in_process(
    model: str | None, single_threads: int, batch_threads: int, singles: int, batch_size: int, batches: int
) -> tuple[str, Latency, float]:
    from civility.model.scorer import Scorer

    scorer = Scorer.load(model, precision="int8", threads=single_threads)
    for text in COMMENTS:
        scorer.score([text])
    samples: list[float] = []
    for i in range(singles):
        text = COMMENTS[i % len(COMMENTS)]
        start = time.perf_counter()
        scorer.score([text])
        samples.append(time.perf_counter() - start)
    if batch_threads != single_threads:
        scorer = Scorer.load(model, precision="int8", threads=batch_threads)
    batch = [COMMENTS[i % len(COMMENTS)] for i in range(batch_size)]
    scorer.score(batch)
    start = time.perf_counter()
    for _ in range(batches):
        scorer.score(batch)
    per_second = batch_size * batches / (time.perf_counter() - start)
    return scorer.ref, latency(samples), per_second


# -- a small HTTP/1.1 keep-alive load generator --------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int, token: str) -> None:
        self.host, self.port, self.token = host, port, token
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post_score(self, text: str) -> int:
        assert self.reader is not None and self.writer is not None
        body = json.dumps({"text": text}).encode()
        head = (
            f"POST /v1/score HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            f"X-API-Key: {self.token}\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.writer.write(head + body)
        await self.writer.drain()
        header = await self.reader.readuntil(b"\r\n\r\n")
        status = int(header.split(b" ", 2)[1])
        length = 0
        for line in header.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await self.reader.readexactly(length)
        return status

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


async def http_single(host: str, port: int, token: str, n: int) -> Latency:
    connection = Connection(host, port, token)
    await connection.open()
    try:
        for text in COMMENTS:  # warm-up
            await connection.post_score(text)
        samples: list[float] = []
        for i in range(n):
            start = time.perf_counter()
            status = await connection.post_score(COMMENTS[i % len(COMMENTS)])
            samples.append(time.perf_counter() - start)
            if status != 200:
                raise RuntimeError(f"HTTP {status}")
        return latency(samples)
    finally:
        await connection.close()


async def http_load(host: str, port: int, token: str, concurrency: int, seconds: float) -> Throughput:
    connections = [Connection(host, port, token) for _ in range(concurrency)]
    await asyncio.gather(*(c.open() for c in connections))
    samples: list[float] = []
    errors = 0
    stop_at = 0.0

    async def worker(index: int, connection: Connection) -> None:
        nonlocal errors
        i = index
        while time.perf_counter() < stop_at:
            start = time.perf_counter()
            status = await connection.post_score(COMMENTS[i % len(COMMENTS)])
            samples.append(time.perf_counter() - start)
            errors += status != 200
            i += 1

    try:
        stop_at = time.perf_counter() + 1.0  # warm-up
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        samples.clear()
        errors = 0
        began = time.perf_counter()
        stop_at = began + seconds
        await asyncio.gather(*(worker(i, c) for i, c in enumerate(connections)))
        elapsed = time.perf_counter() - began
    finally:
        await asyncio.gather(*(c.close() for c in connections))
    lat = latency(samples)
    succeeded = len(samples) - errors  # only 200s count towards throughput
    return Throughput(concurrency, len(samples), elapsed, succeeded / elapsed, lat.p50_ms, lat.p95_ms, errors)


# -- the server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def civility(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "civility", *args], env=env, capture_output=True, text=True, check=True
    )


def wait_ready(port: int, server: subprocess.Popen[bytes], timeout: float = 180) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError("the server exited during startup")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("the server did not become ready")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--model", default=None, help="Model ref or bundle directory (default bundle if omitted)."
    )
    parser.add_argument("--workers", type=int, default=1, help="Server worker processes.")
    parser.add_argument(
        "--onnx-threads",
        type=int,
        default=1,
        help="ONNX intra-op threads per worker (CIVILITY_ONNX_THREADS).",
    )
    parser.add_argument("--singles", type=int, default=300, help="Sequential single-comment requests.")
    parser.add_argument("--seconds", type=float, default=8.0, help="Duration of each throughput run.")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--batch-size", type=int, default=32, help="In-process batch size.")
    parser.add_argument("--json", type=Path, default=None, help="Write the results as JSON here.")
    args = parser.parse_args(argv)

    ref, single, batched = measure_in_process(
        args.model,
        args.onnx_threads,
        args.workers * args.onnx_threads,
        args.singles,
        args.batch_size,
        batches=20,
    )
    report = Report(
        model=ref, workers=args.workers, onnx_threads=args.onnx_threads, cpu_count=os.cpu_count() or 0
    )
    report.in_process_single = single
    report.in_process_batched_per_second = batched
    report.in_process_batch_size = args.batch_size
    print(
        f"model {ref}; {args.workers} worker(s) x {args.onnx_threads} ONNX thread(s); "
        f"in-process single p50 {single.p50_ms:.2f} ms p95 {single.p95_ms:.2f} ms; "
        f"batched ({args.batch_size}) {batched:.0f} comments/s",
        flush=True,
    )

    with tempfile.TemporaryDirectory(prefix="civility-bench-") as tmp:
        env = {
            **os.environ,
            "CIVILITY_HOME": tmp,
            "OMP_NUM_THREADS": "1",
            "CIVILITY_ONNX_THREADS": str(args.onnx_threads),
            "CIVILITY_LOG_LEVEL": "WARNING",
            "CIVILITY_RATE_LIMIT": "10000000/minute",  # measure the service, not the per-key limit
        }
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        token = civility("keys", "create", "--name", "bench", "--database-url", url, env=env).stdout.split()[
            -1
        ]
        port = free_port()
        command = [
            "serve",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
            "--database-url",
            url,
            "--log-level",
            "WARNING",
        ]
        if args.model:
            command += ["--model", args.model]
        server = subprocess.Popen(
            [sys.executable, "-m", "civility", *command],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_ready(port, server)
            report.http_single = asyncio.run(http_single("127.0.0.1", port, token, args.singles))
            print(
                f"HTTP single (keep-alive) p50 {report.http_single.p50_ms:.2f} ms "
                f"p95 {report.http_single.p95_ms:.2f} ms",
                flush=True,
            )
            for concurrency in args.concurrency:
                result = asyncio.run(http_load("127.0.0.1", port, token, concurrency, args.seconds))
                report.http_throughput.append(result)
                print(
                    f"HTTP {concurrency:>3} clients: {result.per_second:.0f} req/s, "
                    f"p50 {result.p50_ms:.1f} ms, p95 {result.p95_ms:.1f} ms, errors {result.errors}",
                    flush=True,
                )
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    assert report.http_single is not None
    report.ratios["http_p50_over_in_process_p50"] = report.http_single.p50_ms / single.p50_ms
    top = max(report.http_throughput, key=lambda t: t.concurrency)
    report.ratios[f"http_{top.concurrency}_clients_over_in_process_batched"] = top.per_second / batched
    report.targets = {
        "http_p50_over_in_process_p50": "<= 2.0",
        f"http_{top.concurrency}_clients_over_in_process_batched": ">= 0.70",
    }
    for name, value in report.ratios.items():
        print(f"ratio {name}: {value:.2f} (target {report.targets[name]})")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
