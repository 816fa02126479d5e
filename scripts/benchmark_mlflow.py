"""Print MLflow's figures from one run, on a stack of its own (README, "Benchmarks").

    source scripts/env.sh && .venv/bin/python scripts/benchmark_mlflow.py [--train]

The stack is `e2etest-<random>` (the config of Pulumi.e2e.yaml on free ports, as
scripts/benchmark.py uses), brought up for the run and destroyed after it; no
user's stack is touched. Figures:
- with `--train`: both pipeline images built and pushed to that stack's registry,
  then the time from triggering the `ml_training` DAG (preprocess, train, promote)
  to the run's end, and whether it left a `champion` alias;

- `log_batch` of 1,000 metrics (MLflow's REST API, the pipeline account), median of 5;
- a 50 MB artifact uploaded through the server's artifact proxy, and the same bytes
  uploaded with boto3 straight to the same bucket of the same store: MB/s of each
  (median of 3) and the proxy's ratio to direct (goal >= 0.7);
- the first start of a server, migration included: the stack's prepare step and
  server, from its image, on a database of their own made for this run on the
  stack's MySQL (dropped afterwards), until `/health` answers;
- the idle memory of the stack's MLflow container (`docker stats`).

"""

from __future__ import annotations

import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from components import mlflow
from mlops_clients import mysql, s3
from mlops_clients.contracts import MLflowAction, MLflowEnv
from scripts.push_images import REPOSITORIES, build_and_push
from tests.support import e2e_stack as e2e

TIMEOUT = 120
MB = 1_000_000


def docker(*args: str, env: dict[str, str] | None = None) -> str:
    """A docker command; `env` adds variables its `-e NAME` arguments take (never on the command line)."""
    environment = {**os.environ, **env} if env else None
    done = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=600, check=False, env=environment)
    if done.returncode != 0:
        raise SystemExit(f"docker {args[0]} failed: {done.stderr.strip()[-300:]}")
    return done.stdout.strip()


def median_seconds(action: Any, times: int) -> float:
    samples = []
    for _ in range(times):
        start = time.monotonic()
        action()
        samples.append(time.monotonic() - start)
    return statistics.median(samples)


def main() -> int:
    reason = e2e.toolchain_missing()
    if reason:
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as scratch, e2e.e2e_stack(Path(scratch)) as stack:
        stack.up()
        out = {key: str(value.value) for key, value in stack.outputs().items()}
        if "--train" in sys.argv:
            for repository, clone_url in REPOSITORIES.items():
                build_and_push(out, repository, out[clone_url], Path(scratch))
            trigger_to_alias(out)
        measure(out)
    return 0


def measure(out: dict[str, str]) -> None:
    url = out["mlflowUrl"]
    session = requests.Session()
    session.auth = (out["mlflowPipelineUser"], out["mlflowPipelinePassword"])

    def api(path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = session.post(f"{url}/api/2.0/mlflow/{path}", json=body, timeout=TIMEOUT)
        answer.raise_for_status()
        return dict(answer.json())

    found = session.get(f"{url}/api/2.0/mlflow/experiments/get-by-name", params={"experiment_name": "mlops-benchmark"})
    experiment = (
        found.json()["experiment"]["experiment_id"]
        if found.ok
        else api("experiments/create", {"name": "mlops-benchmark"})["experiment_id"]
    )
    run = api("runs/create", {"experiment_id": experiment, "run_name": f"bench-{uuid.uuid4().hex[:6]}"})["run"]["info"]
    metrics = [
        {"key": f"m{i % 50}", "value": i * 0.5, "timestamp": int(time.time() * 1000), "step": i} for i in range(1000)
    ]
    log_batch = median_seconds(lambda: api("runs/log-batch", {"run_id": run["run_id"], "metrics": metrics}), 5)
    print(f"{'log_batch of 1,000 metrics (median of 5)':<52} {log_batch * 1000:8.0f} ms", flush=True)

    payload = os.urandom(50 * MB)
    base = run["artifact_uri"].removeprefix("mlflow-artifacts:/")

    def through_proxy() -> None:
        answer = session.put(
            f"{url}/api/2.0/mlflow-artifacts/artifacts/{base}/blob-{uuid.uuid4().hex[:6]}",
            data=payload,
            timeout=TIMEOUT,
        )
        answer.raise_for_status()

    store = s3.s3_client(out["minioS3Url"], out["minioRootUser"], out["minioRootPassword"])

    def direct() -> None:
        store.put_object(Bucket=mlflow.BUCKET, Key=f"mlops-bench/blob-{uuid.uuid4().hex[:6]}", Body=payload)

    proxy_rate = 50 / median_seconds(through_proxy, 3)
    direct_rate = 50 / median_seconds(direct, 3)
    for page in store.get_paginator("list_objects_v2").paginate(Bucket=mlflow.BUCKET, Prefix="mlops-bench/"):
        for item in page.get("Contents", []):
            store.delete_object(Bucket=mlflow.BUCKET, Key=item["Key"])
    print(f"{'50 MB artifact through the proxy (median of 3)':<52} {proxy_rate:8.1f} MB/s")
    print(f"{'50 MB straight to the store with boto3 (median of 3)':<52} {direct_rate:8.1f} MB/s")
    print(f"{'proxy / direct (goal >= 0.7)':<52} {proxy_rate / direct_rate:8.2f}", flush=True)

    print(f"{'first start, migration included':<52} {first_start_seconds(out):8.1f} s", flush=True)
    memory = docker("stats", "--no-stream", "--format", "{{.MemUsage}}", f"{e2e.PREFIX}-mlflow")
    print(f"{'idle memory of the MLflow container':<52} {memory.split('/')[0].strip():>10}")


def trigger_to_alias(out: dict[str, str]) -> None:
    from tests.support.airflow_api import AirflowAPI, run_dag, wait_for_dag

    airflow = AirflowAPI(out["airflowUrl"], out["airflowAdminUser"], out["airflowAdminPassword"])
    wait_for_dag(airflow, "ml_training")
    start = time.monotonic()
    state, _ = run_dag(airflow, "ml_training", {})
    seconds = time.monotonic() - start
    alias = requests.get(
        f"{out['mlflowUrl']}/api/2.0/mlflow/registered-models/alias",
        params={"name": "churn_model", "alias": "champion"},
        auth=(out["mlflowAdminUser"], out["mlflowAdminPassword"]),
        timeout=TIMEOUT,
    )
    version = alias.json()["model_version"]["version"] if alias.ok else "none"
    print(f"{'ml_training trigger to end (' + state + ')':<52} {seconds:8.1f} s   champion: version {version}")


def env_args(env: dict[str, str]) -> list[str]:
    """`-e NAME` for each variable: docker takes the values from its own environment."""
    return [arg for key in env for arg in ("-e", str(key))]


def first_start_seconds(out: dict[str, str]) -> float:
    """The stack's prepare step and server on a new database of the stack's MySQL, to /health."""
    prefix = e2e.PREFIX
    image = docker("inspect", "-f", "{{.Image}}", f"{prefix}-mlflow")
    network = f"{prefix}-net"
    name = f"mlops-bench-{uuid.uuid4().hex[:8]}"
    database, password = name.replace("-", "_"), secrets.token_urlsafe(24)
    host, port = out["mysqlHost"].rsplit(":", 1)
    with mysql.connect(host, int(port), "root", out["mysqlRootPassword"]) as conn:
        mysql.ensure_database(conn, database, database, password)
    uri = f"mysql+pymysql://{database}:{password}@mysql:3306/{database}?charset=utf8mb4"
    client_dir = Path(__file__).resolve().parent.parent / "mlops_clients"
    users = f"{name}-users"
    env = {
        "PYTHONPATH": mlflow.CLIENT_DIR,
        MLflowEnv.BACKEND_STORE_URI: uri,
        MLflowEnv.AUTH_DATABASE_URI: mlflow.AUTH_DATABASE_URI,
        MLflowEnv.ADMIN_USER: "admin",
        MLflowEnv.ADMIN_PASSWORD: secrets.token_urlsafe(18),
        MLflowEnv.PIPELINE_USER: "pipeline",
        MLflowEnv.PIPELINE_PASSWORD: secrets.token_urlsafe(18),
    }
    server_env = {**env, MLflowEnv.FLASK_SECRET_KEY: secrets.token_urlsafe(18), **mlflow.SERVER_SETTINGS}
    common = ["--network", network, "--user", mlflow.SERVER_USER, "-v", f"{users}:{mlflow.AUTH_DIR}"]
    ini = Path(tempfile.mkdtemp(prefix="mlops-bench-")) / "basic_auth.ini"
    ini.write_text(mlflow.auth_config())
    ini.chmod(0o644)
    ini.parent.chmod(0o755)
    try:
        start = time.monotonic()
        prepared = subprocess.run(
            ["docker", "run", "--rm", "--name", f"{name}-prepare", *common, *env_args(env), "-w", "/tmp",  # noqa: S108
             "-v", f"{client_dir}:{mlflow.CLIENT_DIR}/mlops_clients:ro", image,
             *mlflow.client_command(MLflowAction.PREPARE)],
            env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if prepared.returncode != 0:
            raise SystemExit(f"the benchmark's prepare step failed: {prepared.stderr.strip()[-600:]}")
        docker("run", "-d", "--name", f"{name}-server", *common, *env_args(server_env), "-p", "127.0.0.1::5000",
               "-v", f"{ini}:{mlflow.AUTH_CONFIG_FILE}:ro", image,
               *mlflow.server_command("localhost:*,127.0.0.1:*"), env=server_env)  # fmt: skip
        published = docker("port", f"{name}-server", "5000/tcp").splitlines()[0].rsplit(":", 1)[1]
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{published}/health", timeout=2).ok:
                    return time.monotonic() - start
            except requests.RequestException:
                pass
            time.sleep(0.5)
        raise SystemExit("the benchmark's MLflow server did not answer within 600 s")
    finally:
        subprocess.run(["docker", "rm", "-f", f"{name}-server"], capture_output=True, timeout=120, check=False)
        subprocess.run(["docker", "volume", "rm", "-f", users], capture_output=True, timeout=120, check=False)
        shutil.rmtree(ini.parent, ignore_errors=True)
        with mysql.connect(host, int(port), "root", out["mysqlRootPassword"]) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
            cursor.execute("DROP USER IF EXISTS %s@'%%'", (database,))


if __name__ == "__main__":
    sys.exit(main())
