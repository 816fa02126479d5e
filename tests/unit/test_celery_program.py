"""Airflow's CeleryExecutor under Pulumi's mocks: Redis as the broker, workers on the main host, config errors."""

from __future__ import annotations

from typing import Any

import pytest

from components import airflow, redis
from components.config import ConfigError
from tests.unit.conftest import BASE_CONFIG, Evaluation, env_of, evaluate, is_secret, plain
from tests.unit.test_program import CONTAINER, VOLUME, _contains, _plaintext_paths

REDIS_PASSWORD = "mock-secret-redis-airflow-password"
CELERY = {**BASE_CONFIG, "redis": {"enabled": True}, "airflow": {"executor": "celery"}}


@pytest.fixture(scope="module")
def celery() -> Evaluation:
    return evaluate({**CELERY, "airflow": {"executor": "celery", "workerHosts": [{"host": "main", "workers": 2}]}})


def airflow_containers(evaluation: Evaluation) -> list[Any]:
    return [c for c in evaluation.of_type(CONTAINER) if c.name.startswith("airflow-") and c.name != "airflow-statsd"]


def test_local_executor_is_the_default_and_runs_no_broker_and_no_worker(dev: Evaluation) -> None:
    assert not [r for r in dev.resources.values() if r.name.startswith(("redis", "airflow-worker"))]
    assert {env_of(c)["AIRFLOW__CORE__EXECUTOR"] for c in airflow_containers(dev)} == {"LocalExecutor"}
    assert {env_of(c)["AIRFLOW__CORE__PARALLELISM"] for c in airflow_containers(dev)} == {"4"}
    assert not [c.name for c in airflow_containers(dev) if "AIRFLOW__CELERY__BROKER_URL" in env_of(c)]


def test_celery_workers_run_the_tasks_and_only_they_get_the_docker_socket(celery: Evaluation) -> None:
    workers = [celery.named(f"airflow-worker-{n}") for n in (1, 2)]
    assert [plain(w.inputs["command"]) for w in workers] == [["airflow", "celery", "worker"]] * 2
    assert [w.inputs["hostname"] for w in workers] == ["airflow-worker-1", "airflow-worker-2"]  # the tasks' hostname
    with_socket = {
        c.name
        for c in airflow_containers(celery)
        if any(v.get("hostPath") == airflow.DOCKER_SOCKET for v in c.inputs.get("volumes") or [])
    }
    assert with_socket == {"airflow-worker-1", "airflow-worker-2"}
    assert all(w.inputs["groupAdds"] == ["998"] for w in workers)
    # Healthy when Celery's control ping reaches it through the broker (tests/integration/test_redis.py).
    assert all(plain(w.inputs["healthcheck"])["tests"][-1] == f"python {airflow.WORKER_CHECK_FILE}" for w in workers)
    assert all(plain(w.inputs["uploads"])[0]["content"] == airflow.WORKER_CHECK for w in workers)
    assert not [r for r in celery.resources.values() if r.name.startswith("airflow-worker-3")]
    assert all(celery.depends_on(w, celery.named("airflow-init")) for w in workers)


def test_the_scheduler_and_the_workers_share_the_broker_and_the_result_backend(celery: Evaluation) -> None:
    assert {env_of(c)["AIRFLOW__CORE__EXECUTOR"] for c in airflow_containers(celery)} == {"CeleryExecutor"}
    queueing = ["airflow-scheduler", "airflow-worker-1", "airflow-worker-2"]
    envs = [env_of(celery.named(name)) for name in queueing]
    broker = f"redis://{redis.AIRFLOW_USER}:{REDIS_PASSWORD}@{redis.ALIAS}:{redis.INTERNAL_PORT}/0"
    assert {e["AIRFLOW__CELERY__BROKER_URL"] for e in envs} == {broker}
    backends = {e["AIRFLOW__CELERY__RESULT_BACKEND"] for e in envs}
    assert backends == {"db+" + envs[0]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]}
    # Two workers of four slots each: the scheduler lets eight tasks run at once.
    assert {e["AIRFLOW__CORE__PARALLELISM"] for e in envs} == {"8"}
    # They start after Redis (and are stopped before it).
    assert all(celery.depends_on(celery.named(name), celery.named("redis-server")) for name in queueing)


def test_the_broker_password_reaches_redis_and_airflow_only_as_a_secret(celery: Evaluation) -> None:
    holders = sorted(c.name for c in celery.of_type(CONTAINER) if _contains(c.inputs, REDIS_PASSWORD))
    # Not the API server, the DAG processor, the triggerer or the init step: they queue nothing.
    assert holders == ["airflow-scheduler", "airflow-worker-1", "airflow-worker-2", "redis-server"]
    for name in holders:
        assert _plaintext_paths(celery.named(name).inputs, REDIS_PASSWORD) == [], name
    assert celery.outputs["redisAirflowUser"] == redis.AIRFLOW_USER and is_secret(
        celery.outputs["redisAirflowPassword"]
    )
    server = celery.named("redis-server")
    assert REDIS_PASSWORD not in " ".join(plain(server.inputs["command"]))  # in its config file
    assert not server.inputs.get("ports")  # the stack network only


def test_redis_accounts_the_default_one_off_and_its_data_in_a_volume(celery: Evaluation) -> None:
    server = celery.named("redis-server")
    (upload,) = plain(server.inputs["uploads"])
    assert upload["file"] == redis.CONFIG_FILE
    lines = upload["content"].splitlines()
    assert "user default off" in lines
    assert f'user {redis.AIRFLOW_USER} on ">{REDIS_PASSWORD}" ~* &* +@all -@admin -flushall -flushdb -swapdb' in lines
    assert f"user {redis.HEALTH_USER} on nopass -@all +ping" in lines
    assert "appendonly yes" in lines
    assert {"maxmemory 192mb", "maxmemory-policy noeviction"} <= set(lines)  # under its 256 MiB limit
    volumes = {v.inputs["name"] for v in celery.of_type(VOLUME)}
    assert "mlops-stack-dev-redis-data" in volumes
    assert {"volumeName": "mlops-stack-dev-redis-data", "containerPath": redis.DATA_DIR} in [
        {k: v[k] for k in ("volumeName", "containerPath")} for v in plain(server.inputs["volumes"])
    ]


def test_a_password_with_quotes_and_backslashes_stays_one_redis_config_argument() -> None:
    line = next(x for x in redis.server_config('a"b\\c d#', 256).splitlines() if x.startswith("user mlops-airflow"))
    assert line.split(" ", 3)[3].startswith('">a\\"b\\\\c d#" ')


@pytest.mark.parametrize(
    ("config", "problem"),
    [
        ({"airflow": {"executor": "kubernetes"}}, "'airflow.executor' must be one of local, celery, got 'kubernetes'"),
        ({"airflow": {"executor": "celery"}}, "airflow.executor is celery: it needs redis, which is disabled"),
        (
            {"airflow": {"workerHosts": [{"host": "main", "workers": 2}]}},
            "'airflow.workerHosts' is set but 'airflow.executor' is 'local': set it to celery",
        ),
        (
            {"redis": {"enabled": True}, "airflow": {"executor": "celery", "workerHosts": [{"host": "main"}] * 2}},
            "entry 2: host 'main' is listed twice",
        ),
        (
            {
                "redis": {"enabled": True},
                "airflow": {"executor": "celery", "workerHosts": [{"host": "main", "workers": 0}]},
            },
            "entry 1: workers must be a whole number from 1 to 16, got 0",
        ),
        (
            {"redis": {"enabled": True}, "airflow": {"executor": "celery", "workerHosts": []}},
            "'airflow.workerHosts' must be a non-empty list",
        ),
        (
            {
                "redis": {"enabled": True},
                "airflow": {"executor": "celery", "workerHosts": [{"host": "tcp://10.0.0.5:2376", "workers": 1}]},
            },
            "host 'tcp://10.0.0.5:2376' is not supported: only 'main'",
        ),
        (
            {"redis": {"enabled": True}, "airflow": {"executor": "celery", "workerHosts": [{"hots": "main"}]}},
            "entry 1 must be an object with keys host and workers",
        ),
    ],
)
def test_bad_executor_settings_are_refused_naming_the_key(config: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**BASE_CONFIG, **config})
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_the_default_worker_hosts_written_out_are_accepted_with_the_local_executor() -> None:
    evaluation = evaluate({**BASE_CONFIG, "airflow": {"workerHosts": [{"host": "main"}]}})
    assert not [c for c in evaluation.of_type(CONTAINER) if c.name.startswith("airflow-worker")]


def test_the_default_worker_host_is_one_worker_on_the_main_host() -> None:
    evaluation = evaluate(CELERY)
    assert [c.name for c in evaluation.of_type(CONTAINER) if c.name.startswith("airflow-worker")] == [
        "airflow-worker-1"
    ]
