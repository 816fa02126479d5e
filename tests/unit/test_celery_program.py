"""Airflow's CeleryExecutor under Pulumi's mocks: Redis as the broker, workers per host, config errors."""

from __future__ import annotations

import json
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
                "airflow": {"executor": "celery", "workerHosts": [{"host": "tcp://10.0.0.5:2376", "socketGid": 1}]},
            },
            "host 'tcp://10.0.0.5:2376' is tcp://: set certPath to a directory with ca.pem, cert.pem, key.pem",
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


REMOTE = "tcp://10.213.0.2:2376"
WORKER_ADDRESS = "10.213.0.1"
SLUG = "10-213-0-2-2376"


@pytest.fixture(scope="module")
def cert_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    directory = tmp_path_factory.mktemp("certs")
    for name in airflow.TLS_FILES:
        (directory / name).write_text("not read by the mocks")
    return str(directory)


def remote_config(cert_dir: str, **changes: Any) -> dict[str, Any]:
    remote = {
        "host": REMOTE,
        "workers": 2,
        "certPath": cert_dir,
        "socketGid": 997,
        "dockerSocket": "/run/e2/docker.sock",
    }
    return {
        **CELERY,
        "workerAddress": WORKER_ADDRESS,
        "airflow": {"executor": "celery", "workerHosts": [{"host": "main"}, remote]},
        **changes,
    }


@pytest.fixture(scope="module")
def two_hosts(cert_dir: str) -> Evaluation:
    return evaluate(remote_config(cert_dir))


def test_a_further_host_gets_a_provider_of_its_own_and_the_image_network_and_workers_on_it(
    two_hosts: Evaluation, cert_dir: str
) -> None:
    (provider,) = [p for p in two_hosts.of_type("pulumi:providers:docker") if p.name != "docker"]
    assert provider.name == f"airflow-host-{SLUG}"
    assert provider.inputs["host"] == REMOTE and provider.inputs["certPath"] == cert_dir
    on_host = sorted(r.name for r in two_hosts.resources.values() if r.provider.startswith(provider.urn + "::"))
    assert on_host == [
        f"airflow-host-{SLUG}-image",
        f"airflow-host-{SLUG}-network",
        f"airflow-worker-{SLUG}-1",
        f"airflow-worker-{SLUG}-2",
    ]
    network = two_hosts.named(f"airflow-host-{SLUG}-network")
    assert network.inputs["name"] == "mlops-stack-dev-net"  # the pipeline containers' network, by the same name
    assert two_hosts.named(f"airflow-host-{SLUG}-image").inputs["keepLocally"] is True
    main_workers = [
        c.name
        for c in airflow_containers(two_hosts)
        if c.name.startswith("airflow-worker-") and not c.provider.startswith(provider.urn)
    ]
    assert main_workers == ["airflow-worker-1"]


def test_workers_on_a_further_host_reach_the_services_at_the_worker_address(two_hosts: Evaluation) -> None:
    worker = two_hosts.named(f"airflow-worker-{SLUG}-1")
    assert worker.inputs["hostname"] == f"airflow-worker-{SLUG}-1"
    env = env_of(worker)
    mysql_port = int(two_hosts.named("mysql-server").inputs["ports"][0]["external"])
    assert f"@{WORKER_ADDRESS}:{mysql_port}/airflow" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].endswith(f"@{WORKER_ADDRESS}:6379/0")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://{WORKER_ADDRESS}:8085/execution/"
    connections = {k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")}
    assert connections and all(WORKER_ADDRESS in v for v in connections.values()), connections
    assert not [v for v in connections.values() if "://minio:" in v or "://gitbucket:" in v or "://mlflow:" in v]
    assert env["DE_PREPROCESSING_IMAGE"].startswith(f"{WORKER_ADDRESS}:5000/")
    assert not [k for k in env if k.startswith("AIRFLOW__METRICS__")]  # the StatsD exporter is on the stack network
    # Its host's Docker socket, that host's socket group; drains for up to WORKER_DRAIN_SECONDS when removed.
    assert {"hostPath": "/run/e2/docker.sock", "containerPath": airflow.DOCKER_SOCKET} in [
        {k: v[k] for k in ("hostPath", "containerPath") if k in v} for v in plain(worker.inputs["volumes"])
    ]
    assert worker.inputs["groupAdds"] == ["997"]
    assert worker.inputs["destroyGraceSeconds"] == airflow.WORKER_DRAIN_SECONDS
    # The main host's worker keeps the stack network's names; all workers count toward parallelism.
    main = env_of(two_hosts.named("airflow-worker-1"))
    assert main["AIRFLOW__CELERY__BROKER_URL"].endswith(f"@{redis.ALIAS}:{redis.INTERNAL_PORT}/0")
    assert {main["AIRFLOW__CORE__PARALLELISM"], env["AIRFLOW__CORE__PARALLELISM"]} == {"12"}
    assert two_hosts.depends_on(worker, two_hosts.named("airflow-init"))
    assert two_hosts.depends_on(worker, two_hosts.named("redis-server"))


def test_only_what_the_workers_need_is_published_on_the_worker_address(two_hosts: Evaluation) -> None:
    published_there = {
        c.name: sorted(int(p["external"]) for p in plain(c.inputs.get("ports") or []) if p["ip"] == WORKER_ADDRESS)
        for c in two_hosts.of_type(CONTAINER)
    }
    # One gateway publishes the workers' ports there; no service is published there itself.
    assert {name: ports for name, ports in published_there.items() if ports} == {
        "airflow-gateway": [3306, 5000, 5050, 6379, 8080, 8085, 9000]
    }
    gateway = two_hosts.named("airflow-gateway")
    assert {p["ip"] for p in plain(gateway.inputs["ports"])} == {WORKER_ADDRESS}
    assert all(int(p["internal"]) == int(p["external"]) for p in plain(gateway.inputs["ports"]))
    (upload,) = plain(gateway.inputs["uploads"])
    assert upload["file"] == airflow.GATEWAY_CONFIG_FILE
    servers = sorted(line.split()[-1] for line in upload["content"].splitlines() if line.strip().startswith("server"))
    assert servers == [
        "airflow:8080",
        "gitbucket:8080",
        "minio:9000",
        "mlflow:5000",
        "mysql:3306",
        "redis:6379",
        "registry:5000",
    ]
    assert "mock-secret" not in upload["content"]  # routes only: no credential passes through its config
    assert not plain(two_hosts.named("redis-server").inputs.get("ports") or [])
    worker = two_hosts.named(f"airflow-worker-{SLUG}-1")
    assert two_hosts.depends_on(worker, gateway)


def test_no_gateway_without_a_further_host(celery: Evaluation) -> None:
    assert not [r for r in celery.resources.values() if "gateway" in r.name]


def test_secrets_reach_the_further_hosts_workers_only_as_secrets(two_hosts: Evaluation) -> None:
    worker = two_hosts.named(f"airflow-worker-{SLUG}-1")
    for password in (REDIS_PASSWORD, "mock-secret-mysql-db-airflow-password"):
        assert _contains(worker.inputs, password), password
        assert _plaintext_paths(worker.inputs, password) == [], password


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"workerAddress": None}, f"airflow runs containers on {REMOTE}, which cannot reach this host's services"),
        ({"workerAddress": "127.0.0.1"}, "'workerAddress' is 127.0.0.1: tcp://10.213.0.2:2376 cannot reach this host"),
        ({"workerAddress": "0.0.0.0"}, "'workerAddress' is 0.0.0.0"),
        ({"workerAddress": "my-host"}, "'workerAddress' must be an IPv4 address of this host, got 'my-host'"),
        ({"bindAddress": "0.0.0.0"}, "bindAddress 0.0.0.0 covers 'workerAddress' 10.213.0.1"),
        (
            {"certPath": "/nonexistent"},
            "certPath '/nonexistent' of 'tcp://10.213.0.2:2376' lacks ca.pem, cert.pem, key.pem",
        ),
        ({"socketGid": None}, f"host {REMOTE!r} needs socketGid"),
        ({"host": "ssh://ops@10.213.0.2"}, "certPath is for tcp:// hosts; 'ssh://ops@10.213.0.2' is reached over ssh"),
        ({"host": "http://10.213.0.2"}, "host must be 'main' or a Docker host URL"),
        ({"host": "tcp://10.213.0.2:port"}, "host 'tcp://10.213.0.2:port' is not <scheme>://[user@]<address>[:port]"),
        ({"dockerSocket": "run/docker.sock"}, "dockerSocket of 'tcp://10.213.0.2:2376' must be an absolute path"),
        ({"workers": 17}, "entry 2: workers must be a whole number from 1 to 16, got 17"),
        ({"host": "tcp://10.213.0.2"}, "host 'tcp://10.213.0.2' has no port"),
        (
            {"host": "ssh://ops:hunter2@10.213.0.2", "certPath": None},
            "holds a password: ssh:// hosts log in with a key",
        ),
        ({"certPath": "certs/worker"}, "certPath 'certs/worker' of 'tcp://10.213.0.2:2376' must be an absolute path"),
        ({"tls": True}, "entry 2 has unknown keys ['tls']"),
    ],
)
def test_bad_further_hosts_are_refused_before_anything_is_made(
    cert_dir: str, changes: dict[str, Any], problem: str
) -> None:
    config = remote_config(cert_dir)
    entry = dict(config["airflow"]["workerHosts"][1])
    if "bindAddress" in changes:
        config.update(changes)
    elif "workerAddress" in changes:
        if changes["workerAddress"] is None:
            del config["workerAddress"]
        else:
            config["workerAddress"] = changes["workerAddress"]
    else:
        entry.update(changes)
        entry = {k: v for k, v in entry.items() if v is not None}
        config["airflow"] = {**config["airflow"], "workerHosts": [{"host": "main"}, entry]}
    with pytest.raises(ConfigError) as raised:
        evaluate(config)
    assert any(problem in p for p in raised.value.problems), raised.value.problems


def test_an_ssh_host_gets_batch_mode_and_no_certificates(cert_dir: str) -> None:
    config = remote_config(cert_dir)
    ssh = {"host": "ssh://ops@10.213.0.7", "socketGid": 999}
    config["airflow"] = {**config["airflow"], "workerHosts": [{"host": "main"}, ssh]}
    evaluation = evaluate(config)
    provider = evaluation.named("airflow-host-10-213-0-7-22")
    assert provider.inputs["host"] == "ssh://ops@10.213.0.7" and "certPath" not in provider.inputs
    assert json.loads(provider.inputs["sshOpts"]) == list(airflow.SSH_OPTS)  # provider inputs are JSON
    worker = evaluation.named("airflow-worker-10-213-0-7-22-1")
    assert worker.inputs["hostname"] == "airflow-worker-10-213-0-7-22-1"
    assert {"hostPath": airflow.DOCKER_SOCKET, "containerPath": airflow.DOCKER_SOCKET} in [
        {k: v[k] for k in ("hostPath", "containerPath") if k in v} for v in plain(worker.inputs["volumes"])
    ]


def test_the_same_ssh_host_with_and_without_its_default_port_is_listed_twice(cert_dir: str) -> None:
    config = remote_config(cert_dir)
    hosts = [{"host": "ssh://ops@10.213.0.7", "socketGid": 1}, {"host": "ssh://ops@10.213.0.7:22", "socketGid": 1}]
    config["airflow"] = {**config["airflow"], "workerHosts": [{"host": "main"}, *hosts]}
    with pytest.raises(ConfigError) as raised:
        evaluate(config)
    assert any("entry 3: host 'ssh://ops@10.213.0.7:22' is listed twice" in p for p in raised.value.problems)


def test_a_long_host_name_still_makes_a_valid_container_host_name() -> None:
    host = airflow.WorkerHost("ssh://" + "very-long-dns-label." * 5 + "example.com", socket_gid=1)
    alias = host.worker_alias(16)
    assert len(alias) <= 63 and alias.startswith("airflow-worker-very-long-dns-label")


def test_workers_are_signalled_alone_so_their_tasks_can_finish(two_hosts: Evaluation) -> None:
    for name in ("airflow-worker-1", f"airflow-worker-{SLUG}-1"):
        assert env_of(two_hosts.named(name))["DUMB_INIT_SETSID"] == "0"
    assert "DUMB_INIT_SETSID" not in env_of(two_hosts.named("airflow-scheduler"))


def test_bad_worker_hosts_are_not_reported_as_a_needless_worker_address(cert_dir: str) -> None:
    config = remote_config(cert_dir)
    config["airflow"] = {**config["airflow"], "workerHosts": [{"host": "main"}, {"host": "tcp://10.213.0.2:2376"}]}
    with pytest.raises(ConfigError) as raised:
        evaluate(config)
    assert not [p for p in raised.value.problems if "no service runs on a further Docker host" in p]
    assert any("is tcp://: set certPath" in p for p in raised.value.problems)


def test_a_worker_address_without_a_further_host_is_refused() -> None:
    with pytest.raises(ConfigError) as raised:
        evaluate({**CELERY, "workerAddress": WORKER_ADDRESS})
    assert any(
        "'workerAddress' is set but no service runs on a further Docker host" in p for p in raised.value.problems
    )


def test_a_host_listed_twice_is_refused_by_address_and_port(cert_dir: str) -> None:
    config = remote_config(cert_dir)
    remote = config["airflow"]["workerHosts"][1]
    config["airflow"]["workerHosts"].append({**remote, "host": "tcp://10.213.0.2:2376/"})
    with pytest.raises(ConfigError) as raised:
        evaluate(config)
    assert any("entry 3: host 'tcp://10.213.0.2:2376/' is listed twice" in p for p in raised.value.problems)


def test_the_default_worker_hosts_written_out_are_accepted_with_the_local_executor() -> None:
    evaluation = evaluate({**BASE_CONFIG, "airflow": {"workerHosts": [{"host": "main"}]}})
    assert not [c for c in evaluation.of_type(CONTAINER) if c.name.startswith("airflow-worker")]


def test_the_default_worker_host_is_one_worker_on_the_main_host() -> None:
    evaluation = evaluate(CELERY)
    assert [c.name for c in evaluation.of_type(CONTAINER) if c.name.startswith("airflow-worker")] == [
        "airflow-worker-1"
    ]


def test_the_task_heartbeat_timeout_reaches_every_airflow_process(dev: Evaluation) -> None:
    variable = "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT"
    assert {env_of(c)[variable] for c in airflow_containers(dev)} == {"300"}  # Airflow's own default
    quick = evaluate({**CELERY, "airflow": {"executor": "celery", "taskHeartbeatTimeoutSeconds": 60}})
    assert {env_of(c)[variable] for c in airflow_containers(quick)} == {"60"}
    for bad in (10, "60", True):
        with pytest.raises(ConfigError) as raised:
            evaluate({**BASE_CONFIG, "airflow": {"taskHeartbeatTimeoutSeconds": bad}})
        assert any("'airflow.taskHeartbeatTimeoutSeconds' must be a whole number" in p for p in raised.value.problems)
