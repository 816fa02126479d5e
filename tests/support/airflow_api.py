"""Airflow's REST API as the tests and the acceptance suite use it: log in, trigger a DAG,
wait for it, read its logs and results."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from tests.support.containers import wait_until


def run_dag(airflow: AirflowAPI, dag: str, conf: dict[str, str]) -> tuple[str, str]:
    """Trigger `dag` with `conf` as params and wait for it: (final state, run id)."""
    run = airflow.call("POST", f"/dags/{dag}/dagRuns", json={"logical_date": None, "conf": conf})
    assert run.status_code == 200, run.text
    run_id = str(run.json()["dag_run_id"])

    def finished() -> str | None:
        state = str(airflow.call("GET", f"/dags/{dag}/dagRuns/{run_id}").json()["state"])
        return state if state in ("success", "failed") else None

    return wait_until(finished, timeout=1200, what=f"the {dag} run", interval=5, tolerate=()), run_id


def task_log(airflow: AirflowAPI, dag: str, run_id: str, task: str, attempt: int = 1) -> str:
    path = f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{task}/logs/{attempt}"
    return airflow.call("GET", path, params={"full_content": True}).text


def xcom(airflow: AirflowAPI, dag: str, run_id: str, task: str) -> Any:
    entry = airflow.call("GET", f"/dags/{dag}/dagRuns/{run_id}/taskInstances/{task}/xcomEntries/return_value")
    assert entry.status_code == 200, entry.text
    value = entry.json()["value"]
    return json.loads(value) if isinstance(value, str) and value[:1] in "{[" else value


def run_to_success(airflow: AirflowAPI, dag: str, conf: dict[str, str], log_task: str, result_task: str) -> Any:
    """A run that must succeed (else the log of `log_task`): the return value of `result_task`."""
    state, run_id = run_dag(airflow, dag, conf)
    if state != "success":
        pytest.fail(f"{dag} run {run_id} {state}:\n{task_log(airflow, dag, run_id, log_task)[-4000:]}")
    return xcom(airflow, dag, run_id, result_task)


def wait_for_dag(airflow: AirflowAPI, dag: str) -> None:
    """The DAG arrives through the git DAG bundle, from the seeded myairflow_dags repo; unpaused."""
    wait_until(
        lambda: airflow.call("GET", f"/dags/{dag}").status_code == 200,
        timeout=300,
        what=f"the DAG {dag} parsed from the git bundle",
        interval=5,
        tolerate=(),
    )
    assert airflow.call("PATCH", f"/dags/{dag}", json={"is_paused": False}).status_code == 200


class AirflowAPI:
    def __init__(self, url: str, user: str, password: str) -> None:
        self.url = url
        token = requests.post(f"{url}/auth/token", json={"username": user, "password": password}, timeout=30)
        token.raise_for_status()
        self.headers = {"Authorization": f"Bearer {token.json()['access_token']}"}

    def call(self, method: str, path: str, **kwargs: object) -> requests.Response:
        return requests.request(method, f"{self.url}/api/v2{path}", headers=self.headers, timeout=30, **kwargs)  # type: ignore[arg-type]
