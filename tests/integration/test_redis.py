"""The Celery broker's Redis, against the REAL server of the stand-in image with the config the stack writes.

Accounts: the default one is off, the health check may only ping, Airflow's account may do what
Celery does but not administer the server. Then Celery itself, in the REAL Airflow image, sends a
task through the broker with the URL the stack gives Airflow and a worker runs it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import docker
import pytest
from docker.models.containers import Container

from components import redis
from components.airflow import WORKER_CHECK, celery_environment
from tests.support.containers import docker_client, file_archive, network, require_image, running, wait_until

pytestmark = pytest.mark.integration

# Characters redis.conf would split or comment out, and a URL would misread, unless quoted.
PASSWORD = 'r3d!s "quoted" #not-a-comment \\ back'


@dataclass(frozen=True)
class Broker:
    container: Container
    network: str

    def cli(self, *args: str, user: str | None = None, password: str | None = None) -> str:
        """redis-cli in the server's container; the password in REDISCLI_AUTH, never an argument."""
        command = ["redis-cli", "--no-auth-warning", *(["--user", user] if user else []), *args]
        result = self.container.exec_run(command, environment={"REDISCLI_AUTH": password} if password else {})
        return str(result.output.decode().strip())


@pytest.fixture(scope="module")
def broker() -> Iterator[Broker]:
    client = docker_client()
    image = require_image(client, "redis")
    with network(client) as net:
        container = client.containers.create(
            image,
            command=["redis-server", redis.CONFIG_FILE],
            name=f"mlops-test-redis-{net[-10:]}",
            network=net,
            labels={"mlops.test": "true"},
            healthcheck={"test": ["CMD-SHELL", redis.HEALTH_CHECK], "interval": 1_000_000_000},
        )
        try:
            container.put_archive(
                "/", file_archive(redis.CONFIG_FILE, redis.server_config(PASSWORD, redis.SPEC.memory_mb))
            )
            container.start()
            wait_until(lambda: _health(container) == "healthy", 60, "Redis healthy")
            yield Broker(container, net)
        finally:
            container.remove(force=True, v=True)


def _health(container: Container) -> str:
    container.reload()
    return str(container.attrs["State"]["Health"]["Status"])


def test_the_default_account_is_off_and_the_health_account_may_only_ping(broker: Broker) -> None:
    assert "NOAUTH" in broker.cli("PING") or "WRONGPASS" in broker.cli("PING")
    assert broker.cli("PING", user=redis.HEALTH_USER, password="anything") == "PONG"
    assert "NOPERM" in broker.cli("GET", "x", user=redis.HEALTH_USER, password="anything")


def test_airflows_account_works_with_the_quoted_password_and_cannot_administer(broker: Broker) -> None:
    login = {"user": redis.AIRFLOW_USER, "password": PASSWORD}
    assert broker.cli("SET", "k", "v", **login) == "OK"
    assert broker.cli("GET", "k", **login) == "v"
    for refused in (
        ["FLUSHALL"],
        ["FLUSHDB"],
        ["SWAPDB", "0", "1"],
        ["CONFIG", "GET", "maxmemory"],
        ["ACL", "LIST"],
        ["SHUTDOWN"],
    ):
        assert "NOPERM" in broker.cli(*refused, **login), refused
    assert "WRONGPASS" in broker.cli("PING", user=redis.AIRFLOW_USER, password=PASSWORD + "x")


CELERY_ROUND_TRIP = """
import os, sys
from celery import Celery

app = Celery("mlops-test", broker=os.environ["BROKER"], backend="cache+memory://")
app.conf.broker_connection_timeout = 10

@app.task
def add(x, y):
    return x + y

if sys.argv[1] == "worker":
    app.worker_main(["worker", "--pool=solo", "--concurrency=1", "--loglevel=INFO"])
else:
    sent = add.delay(2, 3)
    print("sent", sent.id, flush=True)
"""


def test_celery_sends_and_a_worker_runs_a_task_through_the_broker(broker: Broker) -> None:
    client = docker.from_env()
    image = require_image(client, "airflow")
    # The URL as Airflow gets it (components/airflow.py), the host this test's container.
    url = redis.broker_url(PASSWORD, host=str(broker.container.name))
    (setting,) = [e for e in celery_environment(url, "mysql+mysqldb://x") if e.startswith("AIRFLOW__CELERY__BROKER")]
    environment = {"BROKER": setting.split("=", 1)[1]}
    with running(
        client,
        image,
        entrypoint=["python", "-c", CELERY_ROUND_TRIP, "worker"],
        network=broker.network,
        environment=environment,
    ) as worker:
        sender = client.containers.run(
            image,
            entrypoint=["python", "-c", CELERY_ROUND_TRIP, "send"],
            network=broker.network,
            environment=environment,
            labels={"mlops.test": "true"},
            detach=True,
        )
        try:
            assert sender.wait(timeout=60)["StatusCode"] == 0, sender.logs().decode()
        finally:
            sender.remove(force=True)
        wait_until(lambda: "succeeded" in worker.logs().decode() or None, 60, "the worker to run the task", interval=1)
        # The workers' health check (components/airflow.py): this worker answers, a name that runs no
        # worker does not.
        worker.put_archive("/tmp", file_archive("worker_check.py", WORKER_CHECK))
        worker.reload()
        for hostname, answers in ((str(worker.attrs["Config"]["Hostname"]), 0), ("no-such-worker", 1)):
            checked = worker.exec_run(
                ["python", "/tmp/worker_check.py"],
                environment={"AIRFLOW__CELERY__BROKER_URL": environment["BROKER"], "HOSTNAME": hostname},
            )
            assert checked.exit_code == answers, (hostname, checked.output.decode()[-500:])
