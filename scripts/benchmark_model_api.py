"""Print the model API's figures beside `mlflow models serve`, in one run (README, "Benchmarks").

    source scripts/env.sh && .venv/bin/python scripts/benchmark_model_api.py [--seconds 8]

Both serve the same registered version of a small scikit-learn model (skops) from MLflow
stand-ins of the run's own (MySQL, S3 and MLflow on a network of its own, as
tests/integration/test_model_api.py deploys them; removed afterwards; no user's stack is
touched), each in its own container with one worker, published on 127.0.0.1. The same
request body (`dataframe_records`, 5 rows) goes to both; the load runs on this machine, so
the client shares the two cores with the server under test (the same for both).

- closed loop at concurrency 1 and 8, `--seconds` each: p50, p99, requests/s;
- open loop at rising rates (requests scheduled at fixed times, latency counted from the
  scheduled time, so a stalled server is not hidden): the highest rate whose p99 <= 50 ms;
- cold start to ready, the model's download included (container start to the first 200 of
  /health, resp. /ping);
- each server's memory after the load (`docker stats`).
Not measured: the memory the monitoring services add (Prometheus and Grafana are not yet
services of the stack).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components.files import MLFLOW_IMAGE_CONTEXT, PROJECT_DIR
from mlops_clients.contracts import MLflowEnv, ModelApiEnv
from tests.integration.test_mlflow_server import Deployment, deployed
from tests.integration.test_model_api import CODE, MODEL, reader_account, register, set_alias
from tests.support.containers import docker_client, host_port, require_image, running

BODY = {"dataframe_records": [{"tenure": float(i), "monthly_charges": 2.5 * i} for i in range(5)]}
P99_GOAL_S = 0.050
# Inside its container, published on 127.0.0.1 only; one worker, as the model API has.
SERVE = ["mlflow", "models", "serve", "--env-manager", "local", "-h", "0.0.0.0", "-p", "8000", "-w", "1"]  # noqa: S104
RATES = (25, 50, 100, 200, 300, 400, 600, 800, 1200)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def closed_loop(url: str, concurrency: int, seconds: float) -> tuple[float, float, float, int]:
    """p50 (s), p99 (s), requests/s and failures, `concurrency` clients sending back to back."""
    latencies: list[float] = []
    failures = [0]
    deadline = time.monotonic() + seconds
    lock = threading.Lock()

    def client() -> None:
        with requests.Session() as session:
            while time.monotonic() < deadline:
                started = time.perf_counter()
                answer = session.post(url, json=BODY, timeout=30)
                elapsed = time.perf_counter() - started
                with lock:
                    latencies.append(elapsed)
                    failures[0] += answer.status_code != 200

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    return percentile(latencies, 0.5), percentile(latencies, 0.99), len(latencies) / took, failures[0]


def open_loop(url: str, rate: float, seconds: float) -> tuple[float, int]:
    """p99 (s, from each request's scheduled time) and failures at `rate` requests/s."""
    count = int(rate * seconds)
    start = time.perf_counter() + 0.2
    latencies: list[float] = []
    failures = [0]
    lock = threading.Lock()
    local = threading.local()

    def one(index: int) -> None:
        scheduled = start + index / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        if not hasattr(local, "session"):
            local.session = requests.Session()
        answer = local.session.post(url, json=BODY, timeout=30)
        with lock:
            latencies.append(time.perf_counter() - scheduled)
            failures[0] += answer.status_code != 200

    with ThreadPoolExecutor(max_workers=32) as pool:
        list(pool.map(one, range(count)))
    return percentile(latencies, 0.99), failures[0]


def highest_rate(url: str, seconds: float) -> float:
    best = 0.0
    for rate in RATES:
        p99, failures = open_loop(url, rate, seconds)
        print(f"    {rate:>5} req/s: p99 {p99 * 1000:7.1f} ms, failures {failures}", flush=True)
        if p99 > P99_GOAL_S or failures:
            break
        best = rate
    return best


def wait_ready(url: str, timeout: float) -> None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout:g} s")


def memory_mib(container: Any) -> float:
    stats = container.stats(stream=False)
    usage = stats["memory_stats"]
    return float(usage.get("usage", 0) - usage.get("stats", {}).get("inactive_file", 0)) / 2**20


@contextmanager
def image(client: Any, context: Path, base: str) -> Iterator[str]:
    tag = f"mlops-bench/{context.name}:{uuid.uuid4().hex[:10]}"
    client.images.build(path=str(context), buildargs={"MLFLOW_IMAGE": base}, tag=tag, rm=True)
    try:
        yield tag
    finally:
        client.images.remove(tag, force=True)


def measure(name: str, url: str, seconds: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    for concurrency in (1, 8):
        p50, p99, rps, failures = closed_loop(url, concurrency, seconds)
        print(
            f"  {name}, concurrency {concurrency}: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms, "
            f"{rps:.0f} req/s, failures {failures}",
            flush=True,
        )
        figures[f"p50_{concurrency}"], figures[f"p99_{concurrency}"], figures[f"rps_{concurrency}"] = p50, p99, rps
    print(f"  {name}, open loop (p99 from the scheduled time, goal <= {P99_GOAL_S * 1000:.0f} ms):", flush=True)
    figures["rate"] = highest_rate(url, seconds)
    return figures


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    client = docker_client()
    base = require_image(client, "mlflow")
    with (
        image(client, PROJECT_DIR / MLFLOW_IMAGE_CONTEXT, base) as mlflow_image,
        image(client, PROJECT_DIR / "images" / "model-api", mlflow_image) as api_image,
    ):
        deployments = deployed(mlflow_image)
        try:
            run(client, next(deployments), api_image, args.seconds)
        finally:
            deployments.close()
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="the model API beside `mlflow models serve`")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load step (8)")
    return parser


def run(client: Any, d: Deployment, api_image: str, seconds: float) -> None:
    version = register(d, seed=1)
    set_alias(d, version["version"])
    reader = reader_account(d, api_image)
    mlflow_env = {
        MLflowEnv.TRACKING_URI: d.internal_url,
        MLflowEnv.TRACKING_USERNAME: reader[0],
        MLflowEnv.TRACKING_PASSWORD: reader[1],
        "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
    }
    servers: dict[str, tuple[Callable[[], Any], str, str]] = {
        "model API": (
            lambda: running(
                client,
                api_image,
                environment={**mlflow_env, ModelApiEnv.MODEL: MODEL, ModelApiEnv.POLL_SECONDS: "30"},
                network=d.net,
                volumes=CODE,
                ports={"8000/tcp": ("127.0.0.1", None)},
            ),
            "8000/tcp",
            "/health",
        ),
        "mlflow models serve": (
            lambda: running(
                client,
                d.image,
                command=[*SERVE, "-m", f"models:/{MODEL}/{version['version']}"],
                environment=mlflow_env,
                network=d.net,
                working_dir="/tmp",  # noqa: S108 (the container's own)
                ports={"8000/tcp": ("127.0.0.1", None)},
            ),
            "8000/tcp",
            "/ping",
        ),
    }
    results: dict[str, dict[str, float]] = {}
    for name, (start, port, ready_path) in servers.items():
        started = time.monotonic()
        with start() as container:
            base_url = f"http://127.0.0.1:{host_port(container, port)}"
            wait_ready(f"{base_url}{ready_path}", 300)
            cold = time.monotonic() - started  # from the container's creation
            path = "/predict" if name == "model API" else "/invocations"
            print(f"{name}: ready {cold:.1f} s after its container started", flush=True)
            figures = measure(name, f"{base_url}{path}", seconds)
            figures["cold"], figures["memory"] = cold, memory_mib(container)
            print(f"  {name}: memory {figures['memory']:.0f} MiB", flush=True)
            results[name] = figures
    api, serve = results["model API"], results["mlflow models serve"]
    print("\nfigure | model API | mlflow models serve | ratio (API / serve)")
    for key, label, scale in (
        ("p50_1", "p50 ms, concurrency 1", 1000),
        ("p99_1", "p99 ms, concurrency 1", 1000),
        ("rps_1", "req/s, concurrency 1", 1),
        ("p50_8", "p50 ms, concurrency 8", 1000),
        ("p99_8", "p99 ms, concurrency 8", 1000),
        ("rps_8", "req/s, concurrency 8", 1),
        ("rate", "highest req/s with p99 <= 50 ms", 1),
        ("cold", "cold start to ready, s", 1),
        ("memory", "memory after the load, MiB", 1),
    ):
        ratio = api[key] / serve[key] if serve[key] else float("nan")
        print(f"{label} | {api[key] * scale:.1f} | {serve[key] * scale:.1f} | {ratio:.2f}")
    print(
        f"\nthroughput ratio at concurrency 8: {api['rps_8'] / serve['rps_8']:.2f} "
        f"(goal > 1, at an equal or better p99: {api['p99_8'] * 1000:.1f} vs {serve['p99_8'] * 1000:.1f} ms)"
    )


if __name__ == "__main__":
    sys.exit(main())
