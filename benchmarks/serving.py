"""Benchmark: prediction throughput and latency of the hardened server against an unhardened run.

    python -m benchmarks.serving [--requests 2000] [--concurrency 2] [--batch 16] [--rounds 10]

Both servers run the same Flask app under gunicorn on 127.0.0.1, in the same run, with the
same worker and thread counts, the same native thread settings and the same freshly trained
model:

* hardened -- the production entry point, ``gunicorn -c app/gunicorn.conf.py``: signature
  verified before the model is loaded, preloaded master, JSON access and error logs, tight
  request-line and header limits, and the container's environment (no bytecode writes,
  HOME and TMPDIR on /tmp);
* baseline -- the anchor: a minimal Flask app (``baseline_app`` below) that parses the body with
  ``request.get_json`` and predicts, with no strict validation, no size or batch limits, no
  signature verification and no security headers, under gunicorn's default configuration (its
  stock gthread worker) with only the worker and thread counts and the same JSON access log set
  (request logging is not hardening, so both pay for it).

The per-request cost of strict validation is also measured on its own, in this process: the
hardened path (``parse_json_body`` + ``validate_transactions``) against the baseline's parse
(``json.loads`` + building the matrix), on the same body.

Both servers are started (start-up time: process start to ready), warmed up, then each is
sent --requests POSTs of --batch transactions from --concurrency client threads over
keep-alive connections, in --rounds rounds that alternate between the servers so that
other load on the machine falls on both alike.  Prints throughput, p50/p99 latency and
start-up time, then the hardened server's overhead in percent (positive: slower).  Server
output is discarded.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, Response, jsonify, request

from app.config import DEFAULT_MAX_BATCH_SIZE, DEFAULT_THREADS, DEFAULT_WORKERS
from app.features import FEATURE_NAMES
from app.keygen import generate_ec_keypair
from app.model_loader import load_unverified_model
from app.sign import sign_model
from app.train import DEFAULT_SEED, save, split_dataset, train
from app.validation import parse_json_body, validate_transactions
from secure_model_serving.serving_contract import PREDICT_PATH, READINESS_PATH, ServerEnv

REPO_ROOT = Path(__file__).resolve().parents[1]
BASELINE_MODEL_ENV = "BENCHMARK_MODEL_DIR"
MAX_REQUESTS = 100_000
WARMUP_REQUESTS = 50
START_TIMEOUT_SECONDS = 60.0
REQUEST_TIMEOUT_SECONDS = 10.0
VALIDATION_REPEAT = 2000


def baseline_app() -> Flask:
    """WSGI factory of the anchor: parse and predict, nothing else (see the module docstring)."""
    model = load_unverified_model(Path(os.environ[BASELINE_MODEL_ENV]))
    app = Flask(__name__)

    @app.post(PREDICT_PATH)
    def predict() -> Response:
        matrix = _plain_matrix(request.get_json(force=True))
        threshold = model.metadata.decision_threshold
        probabilities = model.fraud_probability(matrix)
        return jsonify(
            {
                "model_name": model.metadata.model_name,
                "model_version": model.metadata.model_version,
                "decision_threshold": threshold,
                "predictions": [
                    {"fraud_probability": float(p), "label": "fraud" if p >= threshold else "legitimate"}
                    for p in probabilities
                ],
            }
        )

    @app.get(READINESS_PATH)
    def ready() -> Response:
        return jsonify({"status": "ready"})

    return app


def _plain_matrix(payload: Any) -> np.ndarray:
    """The baseline's parse: trust the shape, take the features in order."""
    return np.array([[row[name] for name in FEATURE_NAMES] for row in payload["transactions"]], dtype=np.float64)


def validation_cost(body: bytes, repeat: int) -> tuple[float, float]:
    """Median microseconds per request of (strict parse + validation, plain parse), in this process."""

    def strict() -> object:
        return validate_transactions(parse_json_body(body), FEATURE_NAMES, DEFAULT_MAX_BATCH_SIZE)

    def plain() -> object:
        return _plain_matrix(json.loads(body))

    def median_us(action: Any) -> float:
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            action()
            timings.append((time.perf_counter() - started) * 1e6)
        return statistics.median(timings)

    return median_us(strict), median_us(plain)


@dataclass(frozen=True)
class SignedModel:
    """The benchmark's model directory, its signature and the verifying key."""

    model_dir: Path
    signature: Path
    public_key: Path


@dataclass(frozen=True)
class Launch:
    """How to start one of the two servers."""

    argv: list[str]
    cwd: Path
    env: dict[str, str]


@dataclass(frozen=True)
class RunResult:
    """What one server did under load."""

    name: str
    ok: int
    errors: int
    seconds: float
    latencies_ms: list[float]
    startup_seconds: float

    @property
    def throughput(self) -> float:
        return self.ok / self.seconds

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


def build_model(root: Path, samples: int, max_iter: int) -> SignedModel:
    """Train, save and sign a model under ``root``."""
    model_dir = save(train(n_samples=samples, max_iter=max_iter), root / "model" / "current")
    generate_ec_keypair(root / "signing-key.pem", root / "public-key.pem")
    signature = sign_model(model_dir, root / "model" / "model.sig", root / "signing-key.pem")
    return SignedModel(model_dir, signature, root / "public-key.pem")


def request_body(samples: int, batch: int) -> bytes:
    """``batch`` held-out rows (not seen in training) as a prediction request."""
    _, holdout, _, _ = split_dataset(samples, DEFAULT_SEED)
    rows = [dict(zip(FEATURE_NAMES, map(float, row), strict=True)) for row in holdout[:batch]]
    return json.dumps({"transactions": rows}).encode()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _child_env(extra: dict[str, str]) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in set(ServerEnv)}
    # Same native thread pools for both runs, so only the hardening differs.
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(REPO_ROOT)})
    env.update(extra)
    return env


def _launch(name: str, model: SignedModel, port: int, args: argparse.Namespace, scratch: Path) -> Launch:
    bind = f"127.0.0.1:{port}"
    if name == "hardened":
        env = {
            ServerEnv.MODEL_DIR: str(model.model_dir),
            ServerEnv.MODEL_SIGNATURE: str(model.signature),
            ServerEnv.MODEL_PUBLIC_KEY: str(model.public_key),
            ServerEnv.WORKERS: str(args.workers),
            ServerEnv.THREADS: str(args.threads),
            "PYTHONDONTWRITEBYTECODE": "1",
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
        }
        argv = [sys.executable, "-m", "gunicorn", "-c", "app/gunicorn.conf.py", "--bind", bind]
        return Launch(argv, REPO_ROOT, _child_env(env))
    argv = [sys.executable, "-m", "gunicorn", "--bind", bind, "--workers", str(args.workers)]
    # The same JSON access log as production: logging every request is an operational choice
    # both servers pay for, not part of the hardening being measured.
    argv += ["--access-logfile", "-", "--logger-class", "app.logs.GunicornJsonLogger"]
    argv += ["--threads", str(args.threads), "benchmarks.serving:baseline_app()"]
    # Started outside the repository so gunicorn finds no ./gunicorn.conf.py.
    return Launch(argv, scratch, _child_env({BASELINE_MODEL_ENV: str(model.model_dir)}))


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before it was ready")
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", READINESS_PATH)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.05)
    raise TimeoutError("server did not become ready in time")


def _client(port: int, body: bytes, count: int) -> tuple[list[float], int]:
    """Send ``count`` requests on one keep-alive connection; latencies in ms, error count."""
    headers = {"Content-Type": "application/json"}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT_SECONDS)
    latencies, errors = [], 0
    try:
        for _ in range(count):
            started = time.perf_counter()
            try:
                connection.request("POST", PREDICT_PATH, body, headers)
                response = connection.getresponse()
                response.read()
                failed = response.status != 200
            except (OSError, http.client.HTTPException):
                connection.close()  # reconnects on the next request
                failed = True
            latencies.append((time.perf_counter() - started) * 1000)
            errors += failed
    finally:
        connection.close()
    return latencies, errors


def _load(port: int, body: bytes, requests: int, concurrency: int) -> tuple[list[float], int, float]:
    shares = [requests // concurrency + (index < requests % concurrency) for index in range(concurrency)]
    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(lambda count: _client(port, body, count), shares))
    seconds = time.perf_counter() - started
    latencies = [value for values, _ in results for value in values]
    return latencies, sum(errors for _, errors in results), seconds


@dataclass
class Server:
    """A started server and what was measured against it so far."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    startup_seconds: float = 0.0
    seconds: float = 0.0
    errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)

    def result(self) -> RunResult:
        ok = len(self.latencies_ms) - self.errors
        return RunResult(self.name, ok, self.errors, self.seconds, self.latencies_ms, self.startup_seconds)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_server(name: str, launch: Launch, port: int) -> Server:
    started = time.perf_counter()
    process = subprocess.Popen(
        launch.argv, cwd=launch.cwd, env=launch.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    server = Server(name, process, port)
    try:
        _wait_ready(process, port)
    except BaseException:
        server.stop()
        raise
    server.startup_seconds = time.perf_counter() - started
    return server


def measure(servers: list[Server], body: bytes, args: argparse.Namespace) -> None:
    """Interleave rounds, alternating which server goes first, so that load from
    anything else on the machine falls on both servers alike."""
    for server in servers:
        _load(server.port, body, WARMUP_REQUESTS, args.concurrency)
    per_round = [args.requests // args.rounds + (index < args.requests % args.rounds) for index in range(args.rounds)]
    for index, count in enumerate(per_round):
        for server in servers if index % 2 == 0 else reversed(servers):
            latencies, errors, seconds = _load(server.port, body, count, args.concurrency)
            server.latencies_ms += latencies
            server.errors += errors
            server.seconds += seconds


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="measured requests per server")
    parser.add_argument("--concurrency", type=int, default=2, help="client threads")
    parser.add_argument("--rounds", type=int, default=10, help="alternating measurement rounds")
    parser.add_argument("--batch", type=int, default=16, help="transactions per request")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="gunicorn workers, both servers")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS, help="threads per worker, both servers")
    parser.add_argument("--samples", type=int, default=5000, help="training rows of the benchmark model")
    parser.add_argument("--max-iter", type=int, default=50, help="boosting iterations of the benchmark model")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS:
        parser.error(f"--requests must be between 1 and {MAX_REQUESTS}")
    if not (1 <= args.workers <= 64 and 1 <= args.threads <= 64):
        parser.error("--workers and --threads must be between 1 and 64")
    if not 1 <= args.rounds <= args.requests:
        parser.error("--rounds must be between 1 and --requests")
    if not 1 <= args.concurrency <= 32:
        parser.error("--concurrency must be between 1 and 32")
    if not 1 <= args.batch <= 256:
        parser.error("--batch must be between 1 and 256 (the server's default batch limit)")
    if args.samples < max(500, 5 * args.batch):
        parser.error("--samples must be at least 500 and leave --batch held-out rows (5 x --batch)")
    return args


def _print(results: list[RunResult], args: argparse.Namespace, validation: tuple[float, float]) -> None:
    print(
        f"{args.requests} requests x {args.batch} transactions, {args.concurrency} client threads, "
        f"gunicorn {args.workers} workers x {args.threads} threads, {os.cpu_count()} CPUs"
    )
    print(f"{'server':<10} {'ok':>6} {'errors':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'start s':>8}")
    for result in results:
        print(
            f"{result.name:<10} {result.ok:>6} {result.errors:>6} {result.throughput:>9.1f} "
            f"{result.percentile(50):>8.2f} {result.percentile(99):>8.2f} {result.startup_seconds:>8.2f}"
        )
    hardened, baseline = results
    print(
        "hardened overhead: "
        f"throughput {100 * (baseline.throughput - hardened.throughput) / baseline.throughput:+.1f} %, "
        f"p50 {100 * (hardened.percentile(50) - baseline.percentile(50)) / baseline.percentile(50):+.1f} %, "
        f"p99 {100 * (hardened.percentile(99) - baseline.percentile(99)) / baseline.percentile(99):+.1f} %"
    )
    print(
        "anchor: baseline (minimal Flask parse + predict); ratio hardened/baseline: "
        f"p50 {hardened.percentile(50) / baseline.percentile(50):.2f}, "
        f"throughput {hardened.throughput / baseline.throughput:.2f}"
    )
    strict, plain = validation
    print(
        f"validation per request (in-process, {args.batch} transactions): strict {strict:.0f} us, "
        f"plain parse {plain:.0f} us, cost {strict - plain:+.0f} us "
        f"({100 * (strict - plain) / 1000 / hardened.percentile(50):.1f} % of the hardened p50)"
    )


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    body = request_body(args.samples, args.batch)
    servers: list[Server] = []
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as scratch:
        model = build_model(Path(scratch), args.samples, args.max_iter)
        try:
            for name in ("hardened", "baseline"):
                port = _free_port()
                servers.append(start_server(name, _launch(name, model, port, args, Path(scratch)), port))
            measure(servers, body, args)
        finally:
            for server in servers:
                server.stop()
    _print([server.result() for server in servers], args, validation_cost(body, VALIDATION_REPEAT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
