"""Print Celery's figures from one run (README, "Workers on further hosts"): DAG runs finished per
minute and the median queue latency (task queued -> running), with 1 worker, with 2 workers on
the main host, and with workers on 2 hosts (the main engine and a second Docker engine in a
network namespace of this script's own, tests/support/second_engine.py).

Each run is one container of a small image that holds its slot `--hold` seconds
(tests/support/hosts_dags.py, `mlops_bench_hold`); `--runs` runs are triggered at once. On this
machine both engines share the same cores: the figures show what the platform's scheduling
costs and how it spreads work, not what a second machine would add. Runs its own stack (the
e2e stack's config, ports of its own) and removes it; needs root, the toolchain and the local
images (scripts/test.sh sets them up).

    source scripts/env.sh && .venv/bin/python scripts/benchmark_workers.py [--runs 24] [--hold 10]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pulumi import automation as auto

from tests.support import e2e_stack as e2e
from tests.support import hosts_dags as dags
from tests.support.airflow_api import AirflowAPI, wait_for_dag
from tests.support.second_engine import SecondEngine, missing_prerequisite, second_engine

PHASE_TIMEOUT = 900  # seconds for one configuration's runs to finish


def measure(label: str, airflow: AirflowAPI, runs: int, hold: int) -> None:
    started = time.time()
    run_ids = [dags.trigger(airflow, dags.BENCH_DAG, hold) for _ in range(runs)]
    states = dags.finish(airflow, dags.BENCH_DAG, run_ids, timeout=PHASE_TIMEOUT)
    failed = [r for r, s in states.items() if s != "success"]
    instances = [dags.task(airflow, dags.BENCH_DAG, r) for r in run_ids]
    ended = max(dags.seconds(t["end_date"]) for t in instances)
    per_minute = runs / ((ended - started) / 60)

    def wait(since: str) -> list[float]:
        return [dags.seconds(t["start_date"]) - dags.seconds(t[since]) for t in instances if t.get(since)]

    waits = wait("queued_when")
    # Before it is queued a task waits, scheduled, for a free slot (core.parallelism: the workers' slots).
    slots = [
        dags.seconds(t["start_date"]) - dags.seconds(t["scheduled_when"]) for t in instances if t.get("scheduled_when")
    ]
    hosts: dict[str, int] = {}
    for instance in instances:
        hosts[instance["hostname"]] = hosts.get(instance["hostname"], 0) + 1
    print(
        f"{label:<20} {per_minute:5.1f} runs/min   queued->running median {statistics.median(waits):4.1f} s"
        f" (max {max(waits):4.1f})   scheduled->running median {statistics.median(slots):5.1f} s"
        f" (max {max(slots):5.1f})   {len(failed)} failed   by worker {dict(sorted(hosts.items()))}",
        flush=True,
    )


def pull_on(engine: SecondEngine, out: dict[str, Any]) -> None:
    """The bench image on the second engine before it is measured, as on the main one (pushed from there)."""
    registry = f"{engine.host_address}:{str(out['registryUrl']).rsplit(':', 1)[1]}"
    login = {"username": str(out["registryUser"]), "password": str(out["registryPassword"])}
    client = engine.client()
    try:
        client.images.pull(f"{registry}/{dags.BENCH_REPOSITORY}", tag="latest", auth_config=login)
    finally:
        client.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=24, help="DAG runs triggered at once per configuration")
    parser.add_argument("--hold", type=int, default=10, help="seconds each run's container holds its slot")
    args = parser.parse_args()
    reason = e2e.toolchain_missing() or missing_prerequisite()
    if reason:
        print(f"cannot benchmark: {reason}", file=sys.stderr)
        return 1
    with (
        tempfile.TemporaryDirectory(prefix="mlops-bench-workers-") as scratch,
        second_engine(Path(scratch) / "engine", trust_host_registries=True) as engine,
        e2e.e2e_stack(Path(scratch) / "stack") as stack,
    ):
        e2e.copy_image(e2e.AIRFLOW_IMAGE, engine)
        stack.up()
        out = {k: v.value for k, v in stack.outputs().items()}
        dags.push_bench_image(out)
        dags.push_dags(out, Path(scratch))
        airflow = AirflowAPI(str(out["airflowUrl"]), str(out["airflowAdminUser"]), str(out["airflowAdminPassword"]))
        wait_for_dag(airflow, dags.BENCH_DAG)
        dags.finish(airflow, dags.BENCH_DAG, [dags.trigger(airflow, dags.BENCH_DAG, 0)], PHASE_TIMEOUT)  # warm-up
        print(f"{args.runs} runs at once, each holding its slot {args.hold} s; 4 slots per worker", flush=True)
        measure("1 worker", airflow, args.runs, args.hold)

        e2e.set_worker_hosts(stack, [{"host": "main", "workers": 2}])
        stack.up()
        measure("2 workers, 1 host", airflow, args.runs, args.hold)

        stack.set_config("workerAddress", auto.ConfigValue(value=engine.host_address))
        e2e.set_worker_hosts(stack, [{"host": "main", "workers": 1}, e2e.worker_host_entry(engine)])
        stack.up()
        pull_on(engine, out)
        measure("2 workers, 2 hosts", airflow, args.runs, args.hold)
    return 0


if __name__ == "__main__":
    sys.exit(main())
