"""End to end, Celery workers on two Docker engines (issue 15): the main one and the session's
second engine (tests/e2e/conftest.py), a further host reached over tcp:// with TLS.

A test-only DAG (tests/support/hosts_dags.py), pushed to the stack's DAG repo, runs a pipeline
container (the preprocessing image, pulled from the stack's registry) that reaches the object
store and MLflow from whichever host runs it, through the worker gateway on the second host.
Runs spread over both hosts; the second host vanishes (its link cut) in the middle of runs and
their tasks finish on the first; it comes back rebuilt (nothing on it), `up --refresh` recreates
its workers and the next `up` changes nothing.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from pulumi import automation as auto

from tests.e2e.pipelines import jenkins_build
from tests.e2e.test_lifecycle import changes, outputs
from tests.support import e2e_stack as e2e
from tests.support import hosts_dags as dags
from tests.support.airflow_api import AirflowAPI, wait_for_dag
from tests.support.containers import wait_until
from tests.support.second_engine import SecondEngine

pytestmark = pytest.mark.e2e
DAG = dags.HOSTS_DAG
MAIN_WORKER = "airflow-worker-1"
RUNS = 8  # within the two workers' eight slots: no task waits reserved by a worker that may go away


def ensure_pipeline_image(out: dict[str, object], scratch: Path) -> None:
    """The preprocessing image in the stack's registry (the pipeline test pushed it, unless run alone)."""
    tags_url = f"{out['registryUrl']}/v2/de_datapreprocessing/tags/list"
    login = (str(out["registryUser"]), str(out["registryPassword"]))
    answer = requests.get(tags_url, auth=login, timeout=30)
    if answer.status_code != 200 or "latest" not in (answer.json().get("tags") or []):
        jenkins_build(out, scratch)


def test_runs_spread_over_two_hosts_and_survive_the_second_going_away(
    stack: auto.Stack, second_host: SecondEngine, tmp_path: Path
) -> None:
    stack.up(on_output=print)  # a no-op after the other tests; a cold up when run alone
    out = outputs(stack)
    remote_worker = f"airflow-worker-{second_host.address.replace('.', '-')}-2376-1"
    ensure_pipeline_image(out, tmp_path)
    dags.push_dags(out, tmp_path)
    airflow = AirflowAPI(str(out["airflowUrl"]), str(out["airflowAdminUser"]), str(out["airflowAdminPassword"]))
    wait_for_dag(airflow, DAG)

    # Runs spread over both hosts: each task's hostname is its worker's.
    spread = [dags.trigger(airflow, DAG, hold_seconds=10) for _ in range(RUNS)]
    assert set(dags.finish(airflow, DAG, spread, timeout=900).values()) == {"success"}
    hosts = {dags.task(airflow, DAG, r)["hostname"] for r in spread}
    assert hosts == {MAIN_WORKER, remote_worker}, hosts

    # The second host vanishes (its link cut) while tasks run on it: they stop heartbeating, are
    # failed once that is airflow.taskHeartbeatTimeoutSeconds late, and retried on the host left.
    held = [dags.trigger(airflow, DAG, hold_seconds=60) for _ in range(RUNS)]

    def all_running_some_there() -> list[str] | None:
        found = [dags.task(airflow, DAG, r) for r in held]
        if not all(t["state"] == "running" for t in found):
            return None  # none left queued for a worker that is about to vanish
        return [r for r, t in zip(held, found, strict=True) if t["hostname"] == remote_worker] or None

    running_there = wait_until(
        all_running_some_there, timeout=600, what="all runs running, some on the second host", interval=2, tolerate=()
    )
    cut_at = time.time()
    second_host.disconnect()
    assert set(dags.finish(airflow, DAG, held, timeout=1200).values()) == {"success"}
    for run_id in running_there:
        final = dags.task(airflow, DAG, run_id)
        assert final["hostname"] == MAIN_WORKER and final["try_number"] >= 2, final
        assert remote_worker in {t["hostname"] for t in dags.tries(airflow, DAG, run_id)}
        # Retried only once its heartbeat was overdue: the lost host did not report back.
        assert dags.seconds(final["start_date"]) >= cut_at + e2e.HEARTBEAT_TIMEOUT_SECONDS - 5, (final, cut_at)
    print(f"the lost tasks finished on the first host {time.time() - cut_at:.0f} s after the second vanished")
    second_host.stop(forget=True)  # and it comes back rebuilt: nothing of the stack left on it
    second_host.reconnect()

    # Back, empty: `up --refresh` sees what is gone and makes it again; the next `up` has nothing to do.
    second_host.start()
    e2e.copy_image(e2e.AIRFLOW_IMAGE, second_host)  # the stand-in cannot be pulled (a real host pulls it)
    back = stack.up(refresh=True, on_output=print)
    # Its network and worker (the image was loaded above, as a pull would have).
    made = changes(back.summary)
    assert made.get("create", 0) >= 2 and not {"replace", "update"} & set(made), made
    engine = second_host.client()
    try:
        (worker,) = engine.containers.list(filters={"label": f"mlops.stack={e2e.PREFIX}"})
        assert worker.attrs["State"]["Health"]["Status"] == "healthy"
        assert worker.attrs["Config"]["Hostname"] == remote_worker
    finally:
        engine.close()
    again = stack.up(on_output=print)
    assert changes(again.summary) == {}, again.summary.resource_changes

    # And it takes work again.
    more = [dags.trigger(airflow, DAG, hold_seconds=5) for _ in range(RUNS)]
    assert set(dags.finish(airflow, DAG, more, timeout=900).values()) == {"success"}
    assert remote_worker in {dags.task(airflow, DAG, r)["hostname"] for r in more}
