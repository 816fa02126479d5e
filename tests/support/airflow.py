"""A Python program run inside REAL Airflow (the locally built image).

Each run gets a throwaway SQLite metadata DB migrated with `airflow db migrate`,
the project's dags/ read-only at /opt/airflow/dags, and Airflow's own uid.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.support.containers import docker_client, require_image, running

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"
SCRIPT = (
    "airflow db migrate >/tmp/migrate.log 2>&1 || { tail -n 30 /tmp/migrate.log; exit 3; }; "
    'exec python -c "$AIRFLOW_TEST_PROGRAM" "$@"'
)


def run_in_airflow(
    program: str,
    args: tuple[str, ...] = (),
    environment: dict[str, str] | None = None,
    volumes: dict[str, dict[str, str]] | None = None,
    **options: Any,
) -> str:
    """The program's output (stdout and stderr); its exit status must be 0."""
    client = docker_client()
    image = require_image(client, "airflow")
    with running(
        client,
        image,
        command=["bash", "-c", SCRIPT, "bash", *args],
        user="50000:0",
        environment={
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "sqlite:////tmp/airflow.db",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "false",
            "AIRFLOW_TEST_PROGRAM": program,
            **(environment or {}),
        },
        volumes={str(DAGS_DIR): {"bind": "/opt/airflow/dags", "mode": "ro"}, **(volumes or {})},
        **options,
    ) as container:
        status = container.wait(timeout=600)
        logs: str = container.logs().decode("utf-8", "replace")
    assert status["StatusCode"] == 0, logs[-4000:]
    return logs
