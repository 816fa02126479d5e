"""Test-only DAGs for Celery workers on several hosts, shared by tests/e2e/test_worker_hosts.py and
scripts/benchmark_workers.py: pushed to a test stack's DAG repo, never part of the product's DAGs.

- `mlops_e2e_hosts`: a pipeline container (the preprocessing image, from the stack's registry)
  that reaches the object store and MLflow at the addresses its host's connections name, then
  holds its slot.
- `mlops_bench_hold`: a container of a small image (`mlops-bench`, pushed by `push_bench_image`)
  that only holds its slot: what is measured is the platform's scheduling, not the work.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops_clients import gitbucket
from tests.support.airflow_api import AirflowAPI
from tests.support.containers import wait_until

HOSTS_DAG, BENCH_DAG = "mlops_e2e_hosts", "mlops_bench_hold"
TASK = "hold"
DAG_FILE = "mlops_test_hosts.py"
BENCH_REPOSITORY = "mlops-bench"
BENCH_BASE_IMAGE = "mlops-local/debian:bookworm"  # /bin/sh and sleep are all it needs

DAGS = '''"""Test-only DAGs of tests/support/hosts_dags.py (not product DAGs)."""
import sys
from datetime import datetime, timedelta
from pathlib import Path

from airflow.sdk import DAG, Param

if str(Path(__file__).resolve().parent) not in sys.path:
    sys.path.append(str(Path(__file__).resolve().parent))
from mlops_operators import DEFAULT_IMAGE, PipelineOperator

# The services a pipeline container reaches, as its host's connections name them: MinIO's health,
# and MLflow with the pipeline account (MLflow checks the Host header: the worker address too).
CHECK = """
import base64, json, os, time, urllib.request
endpoint = os.environ["DVC_S3_ENDPOINT_URL"]
urllib.request.urlopen(endpoint + "/minio/health/live", timeout=10).read()
tracking = os.environ["MLFLOW_TRACKING_URI"]
login = os.environ["MLFLOW_TRACKING_USERNAME"] + ":" + os.environ["MLFLOW_TRACKING_PASSWORD"]
search = urllib.request.Request(
    tracking + "/api/2.0/mlflow/experiments/search?max_results=1",
    headers={"Authorization": "Basic " + base64.b64encode(login.encode()).decode()},
)
urllib.request.urlopen(search, timeout=10).read()
time.sleep(int(os.environ["HOLD_SECONDS"]))
print(json.dumps({"endpoint": endpoint, "tracking": tracking}))
"""
BENCH_IMAGE = DEFAULT_IMAGE.rsplit("/", 1)[0] + "/mlops-bench:latest"

for dag_id, image, entrypoint, command in (
    ("mlops_e2e_hosts", "{{ default_image }}", ["/opt/venv/bin/python", "-c"], [CHECK]),
    ("mlops_bench_hold", BENCH_IMAGE, ["/bin/sh", "-c"], ['sleep "$HOLD_SECONDS"']),
):
    with DAG(
        dag_id,
        schedule=None,
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=64,
        max_active_tasks=64,
        params={"hold_seconds": Param(20, type="integer", minimum=0, maximum=600)},
        user_defined_macros={"default_image": DEFAULT_IMAGE},
        default_args={"retries": 2, "retry_delay": timedelta(seconds=5)},
    ):
        PipelineOperator(
            task_id="hold",
            build_hint="the test builds it",
            image=image,
            entrypoint=entrypoint,
            command=command,
            environment={"HOLD_SECONDS": "{{ params.hold_seconds }}"},
        )
'''


def push_dags(out: dict[str, object], scratch: Path) -> None:
    """The test-only DAG file, committed to the stack's DAG repo (once per stack)."""
    user, password = str(out["gitbucketRootUser"]), str(out["gitbucketRootPassword"])
    work = scratch / "dags"
    assert gitbucket.run_git(["clone", str(out["dagsRepoCloneUrl"]), str(work)], None, user, password).returncode == 0
    if (work / DAG_FILE).exists():
        return
    (work / DAG_FILE).write_text(DAGS)
    author = ["-c", "user.name=e2e", "-c", "user.email=e2e@localhost"]
    for args in (["add", "-A"], [*author, "commit", "-m", "Test-only DAGs: runs on hosts"], ["push", "origin", "HEAD"]):
        assert gitbucket.run_git(args, work, user, password).returncode == 0, args


def push_bench_image(out: dict[str, object]) -> None:
    """`mlops-bench:latest` in the stack's registry, pushed from this host's engine with its login
    (kept in a Docker config of its own, removed after)."""
    prefix = str(out["registryPushPrefix"])
    target = f"{prefix}/{BENCH_REPOSITORY}:latest"
    with tempfile.TemporaryDirectory(prefix="mlops-bench-docker-") as config:
        env = {**os.environ, "DOCKER_CONFIG": config}
        login = ["docker", "login", prefix, "--username", str(out["registryUser"]), "--password-stdin"]
        for command, given in (
            (login, str(out["registryPassword"])),  # on standard input, not the command line
            (["docker", "tag", BENCH_BASE_IMAGE, target], None),
            (["docker", "push", target], None),
        ):
            done = subprocess.run(
                command, input=given, env=env, capture_output=True, text=True, timeout=300, check=False
            )
            assert done.returncode == 0, (command[:2], done.stderr)
    subprocess.run(["docker", "rmi", target], capture_output=True, timeout=60, check=False)


def seconds(timestamp: str) -> float:
    """An Airflow API timestamp (ISO 8601), in seconds since the epoch."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def trigger(airflow: AirflowAPI, dag: str, hold_seconds: int) -> str:
    conf = {"hold_seconds": hold_seconds}
    run = airflow.call("POST", f"/dags/{dag}/dagRuns", json={"logical_date": None, "conf": conf})
    assert run.status_code == 200, run.text
    return str(run.json()["dag_run_id"])


def task(airflow: AirflowAPI, dag: str, run_id: str) -> dict[str, Any]:
    return dict(airflow.call("GET", f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{TASK}").json())


def tries(airflow: AirflowAPI, dag: str, run_id: str) -> list[dict[str, Any]]:
    answer = airflow.call("GET", f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{TASK}/tries").json()
    return list(answer["task_instances"])


def finish(airflow: AirflowAPI, dag: str, run_ids: list[str], timeout: float) -> dict[str, str]:
    """Each run's final state, once all have one."""

    def states() -> dict[str, str] | None:
        found = {r: str(airflow.call("GET", f"/dags/{dag}/dagRuns/{r}").json()["state"]) for r in run_ids}
        return found if all(s in ("success", "failed") for s in found.values()) else None

    return wait_until(states, timeout=timeout, what=f"{len(run_ids)} {dag} runs", interval=2, tolerate=())
