"""Airflow 3: scheduler, API server, DAG processor and triggerer on MySQL.

Tasks run in the scheduler (LocalExecutor, the default) or on Celery workers
(`airflow.executor: celery`, Redis as the broker, results in Airflow's MySQL
database).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pulumi
import pulumi_docker as docker

from components import mysql, redis
from components.base import (
    EXPORTER_MEMORY_MB,
    STACK_LABEL,
    Mount,
    Published,
    after_step,
    data_volume,
    generated_fernet_key,
    generated_secret,
    image_problem,
    local_image,
    one_shot_container,
    secret_password,
    service_container,
)
from components.config import StackConfig, is_whole_number
from components.gitbucket import GitBucket, GitRepository
from components.minio import Minio, S3ServiceUser
from components.mlflow import MLflow
from components.mysql import MySQL, ServiceDatabase
from components.redis import Redis
from components.registry import ImageRegistry, Registry
from components.spec import ScrapeJob, ServiceConfig, ServiceSpec, Setting, needed
from dags.mlops_contract import ConnId, Env, connection_variable

ALIAS = "airflow"
INTERNAL_PORT = 8080
SCHEDULER_HEALTH_PORT = 8974
ADMIN_USER = "admin"
DOCKER_SOCKET = "/var/run/docker.sock"
LOCAL_EXECUTOR, CELERY_EXECUTOR = "local", "celery"
EXECUTORS = {LOCAL_EXECUTOR: "LocalExecutor", CELERY_EXECUTOR: "CeleryExecutor"}
MAIN_HOST = "main"  # a worker host entry for the stack's own Docker host
MAIN_HOST_KEYS = frozenset({"host", "workers"})
REMOTE_HOST_KEYS = frozenset({"host", "workers", "certPath", "socketGid", "dockerSocket"})
REMOTE_SCHEMES = ("tcp://", "ssh://")
TLS_FILES = ("ca.pem", "cert.pem", "key.pem")  # what a Docker client reads from its cert path
MAX_WORKERS_PER_HOST = 16
DEFAULT_WORKER_HOSTS = ({"host": MAIN_HOST, "workers": 1},)
SSH_PORT = 22
MAX_SLUG = 40  # airflow-worker-<slug>-<n> stays within 63 characters
# ssh:// hosts: no prompt (nobody answers it), and a dead host fails within seconds.
SSH_OPTS = ("-o", "BatchMode=yes", "-o", "ConnectTimeout=10")
# A worker being removed finishes its running tasks first (Celery's warm shutdown on SIGTERM).
WORKER_DRAIN_SECONDS = 300


@dataclass(frozen=True)
class WorkerHost:
    """One entry of `airflow.workerHosts`, defaults filled in."""

    host: str  # MAIN_HOST, or a Docker host URL (tcp:// with TLS, or ssh://)
    workers: int = 1
    cert_path: str | None = None  # tcp://: a directory with ca.pem, cert.pem, key.pem
    socket_gid: int | None = None  # the group of the Docker socket on that host
    docker_socket: str = DOCKER_SOCKET  # the socket's path on that host

    @property
    def is_main(self) -> bool:
        return self.host == MAIN_HOST

    @property
    def slug(self) -> str:
        """The host in its workers' names (`airflow-worker-<slug>-<n>`): its address and port."""
        if self.is_main:
            return MAIN_HOST
        parts = urlsplit(self.host)
        port = parts.port or SSH_PORT  # tcp:// always has one
        slug = re.sub(r"[^a-z0-9]+", "-", f"{parts.hostname}-{port}".lower()).strip("-")
        if len(slug) > MAX_SLUG:  # a container's host name has at most 63 characters
            slug = f"{slug[: MAX_SLUG - 9]}-{hashlib.sha256(slug.encode()).hexdigest()[:8]}"
        return slug

    def worker_alias(self, number: int) -> str:
        # The main host's workers keep their first names (airflow-worker-<n>).
        return f"{ALIAS}-worker-{number}" if self.is_main else f"{ALIAS}-worker-{self.slug}-{number}"


DEFAULT_HEARTBEAT_TIMEOUT = 300
MIN_HEARTBEAT_TIMEOUT, MAX_HEARTBEAT_TIMEOUT = 30, 86400  # under 30 s a busy task's heartbeat may be late


def _heartbeat_timeout_problem(value: Any) -> str | None:
    if is_whole_number(value) and MIN_HEARTBEAT_TIMEOUT <= value <= MAX_HEARTBEAT_TIMEOUT:
        return None
    return f"must be a whole number of seconds from {MIN_HEARTBEAT_TIMEOUT} to {MAX_HEARTBEAT_TIMEOUT}, got {value!r}"


def _executor_problem(value: Any) -> str | None:
    return None if value in EXECUTORS else f"must be one of {', '.join(EXECUTORS)}, got {value!r}"


def _remote_host_problem(entry: Mapping[str, Any]) -> str | None:
    """What is wrong with a further host's entry: its URL, its TLS files, its socket."""
    host = entry["host"]
    if not isinstance(host, str) or not host.startswith(REMOTE_SCHEMES):
        return (
            f"host must be {MAIN_HOST!r} or a Docker host URL (tcp://<address>:<port> with TLS, or ssh://), "
            f"got {host!r}"
        )
    try:
        parts = urlsplit(host)
        parts.port  # noqa: B018 (raises on a port that is no number)
    except ValueError:
        parts = None
    if parts is None or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return f"host {host!r} is not <scheme>://[user@]<address>[:port]"
    if parts.password is not None:
        return f"host {host!r} holds a password: ssh:// hosts log in with a key (no prompt, nothing in the stack)"
    if host.startswith("tcp://") and parts.port is None:
        return f"host {host!r} has no port: Docker's TLS port is usually 2376 (tcp://<address>:2376)"
    cert_path = entry.get("certPath")
    if host.startswith("tcp://"):
        if not isinstance(cert_path, str) or not cert_path:
            return (
                f"host {host!r} is tcp://: set certPath to a directory with {', '.join(TLS_FILES)} (the Docker API "
                "without TLS gives root on that host to anyone who reaches it)"
            )
        if not os.path.isabs(cert_path):
            return (
                f"certPath {cert_path!r} of {host!r} must be an absolute path (Pulumi and its providers run elsewhere)"
            )
        missing = [name for name in TLS_FILES if not os.path.isfile(os.path.join(cert_path, name))]
        if missing:
            return f"certPath {cert_path!r} of {host!r} lacks {', '.join(missing)}"
    elif cert_path is not None:
        return f"certPath is for tcp:// hosts; {host!r} is reached over ssh"
    gid = entry.get("socketGid")
    if not (is_whole_number(gid) and 0 <= gid < 2**31):
        return (
            f"host {host!r} needs socketGid: the group of the Docker socket there, a whole number "
            f"(`stat -c %g /var/run/docker.sock` on that host), got {gid!r}"
        )
    socket = entry.get("dockerSocket", DOCKER_SOCKET)
    if not isinstance(socket, str) or not socket.startswith("/"):
        return f"dockerSocket of {host!r} must be an absolute path on that host, got {socket!r}"
    return None


def _worker_hosts_problem(value: Any) -> str | None:
    if not isinstance(value, list) or not value:
        return f"must be a non-empty list of {{host, workers}} entries, got {value!r}"
    slugs: list[str] = []
    for index, entry in enumerate(value):
        where = f"entry {index + 1}"
        if not isinstance(entry, Mapping) or "host" not in entry:
            return f"{where} must be an object with keys host and workers, got {entry!r}"
        keys = MAIN_HOST_KEYS if entry["host"] == MAIN_HOST else REMOTE_HOST_KEYS
        if set(entry) - keys:
            return f"{where} has unknown keys {sorted(set(entry) - keys)} (known: {', '.join(sorted(keys))})"
        problem = None if entry["host"] == MAIN_HOST else _remote_host_problem(entry)
        if problem is not None:
            return f"{where}: {problem}"
        workers = entry.get("workers", 1)
        if not is_whole_number(workers) or not 1 <= workers <= MAX_WORKERS_PER_HOST:
            return f"{where}: workers must be a whole number from 1 to {MAX_WORKERS_PER_HOST}, got {workers!r}"
        slug = WorkerHost(entry["host"]).slug
        if slug in slugs:
            return f"{where}: host {entry['host']!r} is listed twice"
        slugs.append(slug)
    return None


def worker_hosts(settings: Mapping[str, Any]) -> list[WorkerHost]:
    """The validated `workerHosts`, defaults filled in; none with LocalExecutor."""
    return _listed_hosts(settings["workerHosts"]) if settings["executor"] == CELERY_EXECUTOR else []


def _listed_hosts(entries: Sequence[Mapping[str, Any]]) -> list[WorkerHost]:
    return [
        WorkerHost(
            host=entry["host"],
            workers=entry.get("workers", 1),
            cert_path=entry.get("certPath"),
            socket_gid=entry.get("socketGid"),
            docker_socket=entry.get("dockerSocket", DOCKER_SOCKET),
        )
        for entry in entries
    ]


def _remote_hosts(settings: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(host.host for host in worker_hosts(settings) if not host.is_main)


def _settings_problems(settings: Mapping[str, Any]) -> list[str]:
    if settings["executor"] != CELERY_EXECUTOR and _listed_hosts(settings["workerHosts"]) != _listed_hosts(
        DEFAULT_WORKER_HOSTS
    ):
        return [f"'airflow.workerHosts' is set but 'airflow.executor' is {settings['executor']!r}: set it to celery"]
    return []


def _needs_for_settings(settings: Mapping[str, Any]) -> tuple[tuple[ServiceSpec, str], ...]:
    if settings["executor"] == CELERY_EXECUTOR:
        return ((redis.SPEC, "airflow.executor is celery"),)
    return ()


SPEC = ServiceSpec(
    name="airflow",
    image="apache/airflow:3.3.2",
    ports={"port": 8085},
    memory_mb=1536,  # per Airflow container (api-server, scheduler, ...)
    secrets=("airflowAdminPassword",),
    needs=(mysql.SPEC,),
    outputs=("airflowUrl", "airflowAdminUser", "airflowAdminPassword"),
    uses_docker_socket=True,
    settings={
        # With Prometheus: Airflow's StatsD metrics, as Prometheus series.
        "statsdExporterImage": Setting("prom/statsd-exporter:v0.31.0", image_problem),
        # With workers on further hosts: the TCP proxy that publishes what they need on workerAddress.
        "gatewayImage": Setting("haproxy:3.2.25", image_problem),
        # Where tasks run: in the scheduler (local) or on Celery workers (celery).
        "executor": Setting(LOCAL_EXECUTOR, _executor_problem),
        # With celery: the Docker hosts that run workers, and how many on each.
        "workerHosts": Setting(list(DEFAULT_WORKER_HOSTS), _worker_hosts_problem),
        # A running task whose process stopped heartbeating this long (its worker or host gone)
        # is failed, and retried if its task allows: Airflow's default, 300.
        "taskHeartbeatTimeoutSeconds": Setting(DEFAULT_HEARTBEAT_TIMEOUT, _heartbeat_timeout_problem),
    },
    settings_check=_settings_problems,
    needs_for_settings=_needs_for_settings,
    remote_hosts=_remote_hosts,
)
GATEWAY_ALIAS = "airflow-gateway"
GATEWAY_CONFIG_FILE = "/usr/local/etc/haproxy/haproxy.cfg"  # where the official image reads it
STATSD_ALIAS = "airflow-statsd"
STATSD_PORT = 9125  # UDP, on the stack network only
STATSD_METRICS_PORT = 9102
JOB = "airflow"  # its Prometheus job
FAB_AUTH_MANAGER = "airflow.providers.fab.auth_manager.fab_auth_manager.FabAuthManager"

# One-shot: migrate the schema (also FAB's tables), then make the admin exist with
# the stack's password. `users create` leaves an existing user alone, so the
# password is reset too: a rotated secret takes effect. The password reaches the
# commands on standard input (their prompt and its confirmation), written by bash's
# builtin printf: never on a command line, where `ps` would show it.
INIT_SCRIPT = """set -e
airflow db migrate
printf '%s\\n%s\\n' "$AIRFLOW_ADMIN_PASSWORD" "$AIRFLOW_ADMIN_PASSWORD" | airflow users create \\
  --username "$AIRFLOW_ADMIN_USER" --firstname Admin --lastname User --role Admin --email admin@mlops.local
printf '%s\\n%s\\n' "$AIRFLOW_ADMIN_PASSWORD" "$AIRFLOW_ADMIN_PASSWORD" | airflow users reset-password \\
  --username "$AIRFLOW_ADMIN_USER"
"""
# What `airflow jobs check --job-type <type> --hostname $HOSTNAME` checks (a running job of
# this host whose heartbeat is recent), as one query: a few milliseconds instead of seconds
# of CPU, so the check can run every few seconds and readiness is seen when it happens.
HEARTBEAT_CHECK_FILE = "/opt/mlops/heartbeat_check.py"
HEARTBEAT_CHECK = """import os, sys, urllib.parse
import MySQLdb

url = urllib.parse.urlsplit(os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"])
db = MySQLdb.connect(
    host=url.hostname, port=url.port or 3306, user=urllib.parse.unquote(url.username or ""),
    passwd=urllib.parse.unquote(url.password or ""), db=url.path.lstrip("/"),
    connect_timeout=5, read_timeout=5,
)
cursor = db.cursor()
cursor.execute(
    "SELECT TIMESTAMPDIFF(SECOND, MAX(latest_heartbeat), CURRENT_TIMESTAMP) FROM job"
    " WHERE job_type = %s AND hostname = %s AND state = 'running'",
    (sys.argv[1], os.environ["HOSTNAME"]),
)
(age,) = cursor.fetchone()
sys.exit(0 if age is not None and age <= 60 else 1)
"""


# A worker answers Celery's control ping through the broker, by its own name (`airflow celery
# worker` names itself celery@<hostname>). Celery alone, not Airflow's app: `celery --app
# <airflow's> inspect ping` imports Airflow and took 9-18 s per check on 2 cores.
WORKER_CHECK_FILE = "/opt/mlops/worker_check.py"
WORKER_CHECK = """import os, sys
from celery import Celery

app = Celery(broker=os.environ["AIRFLOW__CELERY__BROKER_URL"])
replies = app.control.ping(destination=["celery@" + os.environ["HOSTNAME"]], timeout=5)
sys.exit(0 if replies else 1)
"""
WORKER_CONCURRENCY = 4  # task slots per worker: tasks are containers, the worker only waits on them


def parallelism(settings: Mapping[str, Any]) -> int:
    """Task instances running at once: LocalExecutor's processes, or every worker's slots, on every host."""
    return max(4, sum(host.workers for host in worker_hosts(settings)) * WORKER_CONCURRENCY)


def celery_environment(broker_url: str, sql_conn: str) -> list[str]:
    """CeleryExecutor's settings: Redis as the broker, results in Airflow's own database."""
    return [
        f"AIRFLOW__CELERY__BROKER_URL={broker_url}",
        # Celery's database backend takes a SQLAlchemy URL behind `db+`, the same driver.
        f"AIRFLOW__CELERY__RESULT_BACKEND=db+{sql_conn}",
        f"AIRFLOW__CELERY__WORKER_CONCURRENCY={WORKER_CONCURRENCY}",
    ]


@dataclass(frozen=True)
class GatewayRoute:
    """A service that workers on further hosts reach through the worker gateway: its alias and
    port on the stack network, and the port the gateway publishes it on (the service's host port)."""

    name: str
    alias: str
    port: int
    published: int

    @classmethod
    def of_urls(cls, name: str, internal_url: str, host_url: str) -> GatewayRoute:
        internal = urlsplit(internal_url)
        return cls(name, str(internal.hostname), internal.port or 80, urlsplit(host_url).port or 80)


def gateway_config(routes: Sequence[GatewayRoute]) -> str:
    """HAProxy, TCP only: one listener per route, each service found again by Docker's DNS when its
    container is replaced (a new address); a service not up yet only fails its own connections."""
    lines = [
        "global",
        "    maxconn 2048",
        "resolvers stack",
        "    nameserver docker 127.0.0.11:53",
        "    hold valid 10s",
        "defaults",
        "    mode tcp",
        "    timeout connect 10s",
        # Long-lived clients: the broker connection of Celery, SQLAlchemy's pool. A worker host
        # that vanishes is found by keepalive probes within about two minutes, so its
        # connections do not hold MySQL's and Redis' slots for a day.
        "    timeout client 24h",
        "    timeout server 24h",
        "    timeout client-fin 30s",
        "    timeout server-fin 30s",
        "    option clitcpka",
        "    clitcpka-idle 60s",
        "    clitcpka-intvl 10s",
        "    clitcpka-cnt 6",
        "    default-server init-addr last,libc,none resolvers stack",
    ]
    for route in routes:
        lines += [
            f"listen {route.name}",
            f"    bind :{route.published}",
            f"    server {route.name} {route.alias}:{route.port}",
        ]
    return "\n".join([*lines, ""])


def gateway_health_check(port: int) -> str:
    """The gateway accepts on one of its listeners (bash: the official image has no curl)."""
    return f"bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}'"


@dataclass(frozen=True)
class Reach:
    """Where containers on one Docker host find the stack's services: by alias on the stack
    network (the main host: `address` None), or at the ports the main host publishes on its
    `workerAddress` (a further host, which has no such network)."""

    address: str | None = None

    def url(self, internal_url: str, host_url: str) -> str:
        """`internal_url`, or `host_url` (published on the host's address) moved to `address`."""
        if self.address is None:
            return internal_url
        parts = urlsplit(host_url)
        return urlunsplit(parts._replace(netloc=f"{self.address}:{parts.port}"))

    def endpoint(self, alias: str, internal_port: int, host_port: int) -> tuple[str, int]:
        return (alias, internal_port) if self.address is None else (self.address, host_port)


MAIN_REACH = Reach()


@dataclass
class AirflowArgs:
    """What Airflow runs on (MySQL) and, where enabled, what its pipelines are wired to."""

    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    mysql: MySQL
    database: ServiceDatabase
    gitbucket: GitBucket | None = None
    dags_repo: GitRepository | None = None
    pipeline_repo: GitRepository | None = None
    minio: Minio | None = None
    dvc_user: S3ServiceUser | None = None
    registry: ImageRegistry | None = None
    mlflow: MLflow | None = None
    training_repo: GitRepository | None = None
    redis: Redis | None = None  # the Celery broker, with `airflow.executor: celery`

    def ready(self) -> list[pulumi.Resource]:
        """What must exist before the DAG processor first parses the DAG repo (a repo's
        `ready`: seeded, and the automation account its collaborator)."""
        return [
            r.ready for r in (self.dags_repo, self.pipeline_repo, self.training_repo, self.dvc_user) if r is not None
        ]


def docker_registry_connection(server: str, username: str, password: str) -> dict[str, object]:
    """An Airflow `docker` connection: DockerOperator logs in with it before it pulls."""
    host, _, port = server.partition(":")
    connection: dict[str, object] = {"conn_type": "docker", "host": host, "login": username, "password": password}
    if port:
        connection["port"] = int(port)
    return connection


def wiring_environment(args: AirflowArgs, network: str, reach: Reach = MAIN_REACH) -> pulumi.Output[list[str]]:
    """Connections (as AIRFLOW_CONN_* variables: never stored in the metadata database),
    the DAG bundle read from GitBucket, and what the preprocessing DAG needs to run, as
    containers on a host with this `reach` find them (a further host has a network of the
    same name, for the pipeline containers, but not the services on it)."""
    env: list[pulumi.Output[str]] = [pulumi.Output.from_input(f"{Env.NETWORK}={network}")]

    def conn(conn_id: str, value: pulumi.Output[dict[str, object]]) -> pulumi.Output[str]:
        return value.apply(lambda v: f"{connection_variable(conn_id)}={json.dumps(v, sort_keys=True)}")

    if args.gitbucket is not None:
        gitbucket = args.gitbucket

        # The automation account (write on the seeded repos only), never GitBucket's root:
        # these connections reach every Airflow process and the pipeline's containers.
        def git_conn(repo: GitRepository) -> pulumi.Output[dict[str, object]]:
            return gitbucket.automation_password.apply(
                lambda password: {
                    "conn_type": "git",
                    "host": reach.url(repo.internal_clone_url, repo.host_clone_url),
                    "login": gitbucket.automation_user,
                    "password": password,
                }
            )

        if args.dags_repo is not None:
            env.append(conn(ConnId.DAGS_GIT, git_conn(args.dags_repo)))
            bundle = [
                {
                    "name": args.dags_repo.repo,
                    "classpath": "airflow.providers.git.bundles.git.GitDagBundle",
                    "kwargs": {"git_conn_id": ConnId.DAGS_GIT.value, "tracking_ref": "main", "refresh_interval": 30},
                }
            ]
            env.append(pulumi.Output.from_input(f"AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST={json.dumps(bundle)}"))
        if args.pipeline_repo is not None:
            env.append(conn(ConnId.GIT, git_conn(args.pipeline_repo)))
    if args.minio is not None and args.dvc_user is not None:
        minio, user = args.minio, args.dvc_user
        env.append(
            conn(
                ConnId.S3,
                user.secret_key.apply(
                    lambda secret: {
                        "conn_type": "aws",
                        "login": user.access_key,
                        "password": secret,
                        "extra": {"endpoint_url": reach.url(minio.internal_url, minio.host_url)},
                    }
                ),
            )
        )
    if args.mlflow is not None:
        tracking = args.mlflow
        # The pipeline account: it manages what it creates, nothing else (components/mlflow.py).
        env.append(
            conn(
                ConnId.MLFLOW,
                tracking.pipeline_password.apply(
                    lambda password: {
                        "conn_type": "http",
                        "host": reach.url(tracking.internal_url, tracking.host_url),
                        "login": tracking.pipeline_user,
                        "password": password,
                    }
                ),
            )
        )
        env.append(pulumi.Output.from_input(f"{Env.MLFLOW_CONN_ID}={ConnId.MLFLOW.value}"))
    if args.registry is not None:
        registry = args.registry
        prefix = registry.push_prefix_at(reach.address)
        env.append(pulumi.Output.from_input(f"{Env.IMAGE}={prefix}/de_datapreprocessing:latest"))
        env.append(pulumi.Output.from_input(f"{Env.TRAINING_IMAGE}={prefix}/ds_mlmodeling:latest"))
        if registry.username is not None and registry.password is not None:
            username = registry.username
            env.append(
                conn(
                    ConnId.REGISTRY,
                    registry.password.apply(
                        lambda password: docker_registry_connection(
                            registry.server_at(reach.address), username, password
                        )
                    ),
                )
            )
            env.append(pulumi.Output.from_input(f"{Env.REGISTRY_CONN_ID}={ConnId.REGISTRY.value}"))
    return pulumi.Output.all(*env).apply(list)


@dataclass(frozen=True)
class _HostPlacement:
    """What a host's workers run with: its provider (None: the stack's), network, image, environment, volumes."""

    provider: docker.Provider | None
    network: pulumi.Input[str]
    image: pulumi.Input[str]
    envs: pulumi.Output[list[str]]
    mounts: list[Mount]


class Airflow(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    admin_user: str
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: AirflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:airflow:Airflow", name, None, opts)
        stack, service, db = args.stack, args.service, args.database
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user = ADMIN_USER
        self.admin_password = secret_password(f"{name}-admin-password", "airflowAdminPassword", stack, self)

        # Fernet keys are url-safe base64 of 32 random bytes, padded.
        fernet_key = generated_fernet_key(f"{name}-fernet-key", stack, self)
        jwt_secret = generated_secret(f"{name}-jwt-secret", stack, self)
        api_secret = generated_secret(f"{name}-api-secret-key", stack, self)
        executor = service.settings["executor"]

        def sql_conn(reach: Reach) -> pulumi.Output[str]:
            host, port = reach.endpoint(args.mysql.internal_host, args.mysql.internal_port, args.mysql.host_port)
            return pulumi.Output.concat(
                "mysql+mysqldb://", db.user, ":", db.password, "@", host, ":", str(port), "/", db.database,
                "?charset=utf8mb4",
            )  # fmt: skip

        # Identical in every Airflow container but for where it finds the services (`reach`):
        # they share the database, keys and tokens.
        def environment(reach: Reach) -> pulumi.Output[list[str]]:
            execution_api = reach.url(f"{self.internal_url}/execution/", f"{self.host_url}/execution/")
            wired = wiring_environment(args, stack.network_name, reach)
            return pulumi.Output.secret(
                pulumi.Output.all(sql_conn(reach), fernet_key, jwt_secret, api_secret, wired).apply(
                    lambda values: [
                        *values[4],
                        f"AIRFLOW__CORE__EXECUTOR={EXECUTORS[executor]}",
                        f"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN={values[0]}",
                        f"AIRFLOW__CORE__FERNET_KEY={values[1]}",
                        f"AIRFLOW__API_AUTH__JWT_SECRET={values[2]}",
                        f"AIRFLOW__API__SECRET_KEY={values[3]}",
                        f"AIRFLOW__CORE__AUTH_MANAGER={FAB_AUTH_MANAGER}",
                        f"AIRFLOW__CORE__EXECUTION_API_SERVER_URL={execution_api}",
                        "AIRFLOW__CORE__LOAD_EXAMPLES=False",
                        # LocalExecutor forks this many workers up front (default 32: over a
                        # container's memory limit); tasks here are containers, so few suffice.
                        # With Celery it caps the running tasks of all workers together.
                        f"AIRFLOW__CORE__PARALLELISM={parallelism(service.settings)}",
                        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK=True",
                        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="
                        f"{service.settings['taskHeartbeatTimeoutSeconds']}",
                    ]
                )
            )

        common_env = environment(MAIN_REACH)
        self.statsd = self._statsd_exporter(name, args) if stack.monitored else None
        if self.statsd is not None:  # Airflow resolves the exporter's name when it starts
            common_env = pulumi.Output.secret(
                pulumi.Output.all(common_env, self.statsd.id).apply(
                    lambda values: [
                        *values[0],
                        "AIRFLOW__METRICS__STATSD_ON=True",
                        f"AIRFLOW__METRICS__STATSD_HOST={STATSD_ALIAS}",
                        f"AIRFLOW__METRICS__STATSD_PORT={STATSD_PORT}",
                        "AIRFLOW__METRICS__STATSD_PREFIX=airflow",
                        # Airflow 3's names carry dag_id, task_id, state as tags: sent InfluxDB-style
                        # (`name,dag_id=x:1|c`), which statsd_exporter turns into labels; the legacy
                        # names (the DAG id inside the name) only duplicate them.
                        "AIRFLOW__METRICS__STATSD_INFLUXDB_ENABLED=True",
                        "AIRFLOW__METRICS__LEGACY_NAMES_ON=False",
                        # Its client resolves the exporter's address once: a new exporter
                        # container (a new address) restarts Airflow's.
                        f"MLOPS_STATSD_EXPORTER={values[1]}",
                    ]
                )
            )
        image = local_image(f"{name}-image", service.image, self)
        logs = data_volume(f"{name}-logs", stack, "airflow-logs", self)
        log_mount = Mount(logs.name, "/opt/airflow/logs")

        _, initialised = one_shot_container(
            f"{name}-init",
            stack=stack,
            service=service,
            image=image,
            network=args.network,
            command=["bash", "-c", INIT_SCRIPT],
            envs=pulumi.Output.all(common_env, self.admin_password).apply(
                lambda values: [*values[0], f"AIRFLOW_ADMIN_USER={ADMIN_USER}", f"AIRFLOW_ADMIN_PASSWORD={values[1]}"]
            ),
            user="50000:0",
            opts=pulumi.ResourceOptions(parent=self, depends_on=[db.ready]),
        )
        process_env = after_step(common_env, initialised)
        # The broker's login only where Celery runs: the scheduler (which queues) and the workers.
        broker = needed(args.redis, "airflow.executor celery", "redis") if executor == CELERY_EXECUTOR else None
        broker_ready: list[pulumi.Resource] = [broker.container] if broker is not None else []

        def with_celery(env: pulumi.Output[list[str]], reach: Reach) -> pulumi.Output[list[str]]:
            if broker is None:
                return env
            return pulumi.Output.secret(
                pulumi.Output.all(env, broker.broker_url(reach.address), sql_conn(reach)).apply(
                    lambda values: [*values[0], *celery_environment(values[1], values[2])]
                )
            )

        celery_env = with_celery(process_env, MAIN_REACH)

        def process(
            suffix: str,
            health: str,
            published: tuple[Published, ...] = (),
            docker_socket: bool = False,
            waits_for: Sequence[pulumi.Resource] = (),
            uploads: Sequence[docker.ContainerUploadArgs] | None = None,
            interval: int = 3,  # every check is cheap: readiness is seen within seconds
            celery: bool = False,
        ) -> docker.Container:
            return service_container(
                f"{name}-{suffix}",
                stack=stack,
                service=service,
                image=image,
                network=args.network,
                alias=ALIAS if suffix == "api-server" else f"{ALIAS}-{suffix}",
                command=["airflow", suffix],
                envs=celery_env if celery else process_env,
                user="50000:0",
                mounts=[log_mount],
                health=[health],
                start_period=120,
                interval=interval,
                wait_timeout=420,
                published=published,
                host_mounts=((DOCKER_SOCKET, DOCKER_SOCKET),) if docker_socket else (),
                group_adds=[str(stack.docker_socket_gid)] if docker_socket else None,
                uploads=uploads,
                drop_capabilities=True,  # runs as the airflow user from the start
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[
                        *waits_for,
                        *([self.statsd] if self.statsd else []),
                        *(broker_ready if celery else []),
                    ],
                ),
            )

        heartbeat = [docker.ContainerUploadArgs(file=HEARTBEAT_CHECK_FILE, content=HEARTBEAT_CHECK)]

        self.api_server = process(
            "api-server",
            f"curl -fsS http://localhost:{INTERNAL_PORT}/api/v2/version",
            published=(Published(INTERNAL_PORT, service.port),),
        )
        # Whatever runs the tasks starts their containers: the scheduler (LocalExecutor) or
        # the Celery workers. Only it gets the Docker socket.
        self.scheduler = process(
            "scheduler",
            f"curl -fsS http://localhost:{SCHEDULER_HEALTH_PORT}/health",
            docker_socket=executor == LOCAL_EXECUTOR,
            celery=True,
        )

        def worker(host: WorkerHost, number: int, on_host: _HostPlacement) -> docker.Container:
            alias = host.worker_alias(number)
            return service_container(
                f"{name}-{alias.removeprefix(ALIAS + '-')}",
                stack=stack,
                service=service,
                image=on_host.image,
                network=on_host.network,
                alias=alias,
                command=["airflow", "celery", "worker"],
                # dumb-init signals only the worker, not its whole session: Celery's warm shutdown lets
                # the running tasks finish (Airflow's docs for Celery workers in Docker).
                envs=pulumi.Output.secret(on_host.envs.apply(lambda envs: [*envs, "DUMB_INIT_SETSID=0"])),
                user="50000:0",
                mounts=on_host.mounts,
                health=[f"python {WORKER_CHECK_FILE}"],
                start_period=120,
                interval=10,
                wait_timeout=420,
                host_mounts=((host.docker_socket, DOCKER_SOCKET),),
                group_adds=[str(host.socket_gid if host.socket_gid is not None else stack.docker_socket_gid)],
                uploads=[docker.ContainerUploadArgs(file=WORKER_CHECK_FILE, content=WORKER_CHECK)],
                drop_capabilities=True,
                destroy_grace_seconds=WORKER_DRAIN_SECONDS,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    provider=on_host.provider,
                    depends_on=[
                        *([self.statsd] if self.statsd and host.is_main else []),
                        *([self.gateway] if self.gateway and not host.is_main else []),
                        *broker_ready,
                    ],
                ),
            )

        hosts = worker_hosts(service.settings)
        self.gateway = self._worker_gateway(name, args) if any(not host.is_main for host in hosts) else None
        self.workers: list[docker.Container] = []
        for host in hosts:
            if host.is_main:
                placement = _HostPlacement(None, args.network, image, celery_env, [log_mount])
            else:
                reach = Reach(needed(stack.worker_address, f"airflow worker host {host.host}", "workerAddress"))
                envs = with_celery(after_step(environment(reach), initialised), reach)
                placement = self._further_host(name, host, stack, service.image, envs)
            self.workers += [worker(host, number, placement) for number in range(1, host.workers + 1)]
        # The only process that needs the seeded repos before it starts: it clones the DAG repo.
        self.dag_processor = process(
            "dag-processor",
            f"python {HEARTBEAT_CHECK_FILE} DagProcessorJob",
            uploads=heartbeat,
            waits_for=args.ready(),
        )
        self.triggerer = process("triggerer", f"python {HEARTBEAT_CHECK_FILE} TriggererJob", uploads=heartbeat)
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
            }
        )

    def _worker_gateway(self, name: str, args: AirflowArgs) -> docker.Container:
        """What workers on further hosts need of this one, published on `workerAddress` and nowhere
        else: one TCP proxy on the stack network, so no service is published twice (Docker reports a
        port's two bindings in the reverse order, which a refresh would read as a change)."""
        stack, service = args.stack, args.service
        address = needed(stack.worker_address, "airflow workers on further hosts", "workerAddress")
        api = GatewayRoute.of_urls("airflow", self.internal_url, self.host_url)
        routes = [GatewayRoute("mysql", args.mysql.internal_host, args.mysql.internal_port, args.mysql.host_port), api]
        if args.redis is not None:
            routes.append(GatewayRoute("redis", args.redis.alias, redis.INTERNAL_PORT, args.redis.host_port))
        for route_name, served in (
            ("registry", args.registry),
            ("minio", args.minio),
            ("gitbucket", args.gitbucket),
            ("mlflow", args.mlflow),
        ):
            if isinstance(served, (Registry, Minio, GitBucket, MLflow)):  # an external registry needs no route
                routes.append(GatewayRoute.of_urls(route_name, served.internal_url, served.host_url))
        return service_container(
            f"{name}-gateway",
            stack=stack,
            service=service,
            image=local_image(f"{name}-gateway-image", service.settings["gatewayImage"], self),
            network=args.network,
            alias=GATEWAY_ALIAS,
            command=["haproxy", "-f", GATEWAY_CONFIG_FILE],
            uploads=[docker.ContainerUploadArgs(file=GATEWAY_CONFIG_FILE, content=gateway_config(routes))],
            published=[Published(r.published, r.published, address=address) for r in routes],
            health=[gateway_health_check(api.published)],  # Airflow's route: every gateway has it
            start_period=10,
            drop_capabilities=True,
            memory_mb=EXPORTER_MEMORY_MB,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _further_host(
        self, name: str, host: WorkerHost, stack: StackConfig, image: str, envs: pulumi.Output[list[str]]
    ) -> _HostPlacement:
        """A further Docker host's provider, and the network (of the stack network's name, for the
        pipeline containers its workers start) and the Airflow image on it."""
        prefix = f"{name}-host-{host.slug}"
        provider = docker.Provider(
            prefix,
            host=host.host,
            cert_path=host.cert_path,
            ssh_opts=list(SSH_OPTS) if host.host.startswith("ssh://") else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_host = pulumi.ResourceOptions(parent=self, provider=provider)
        network = docker.Network(
            f"{prefix}-network",
            name=stack.network_name,
            driver="bridge",
            labels=[docker.NetworkLabelArgs(label=STACK_LABEL, value=stack.prefix)],
            opts=on_host,
        )
        return _HostPlacement(provider, network.name, local_image(f"{prefix}-image", image, self, provider), envs, [])

    def _statsd_exporter(self, name: str, args: AirflowArgs) -> docker.Container:
        return service_container(
            f"{name}-statsd",
            stack=args.stack,
            service=args.service,
            image=local_image(f"{name}-statsd-image", args.service.settings["statsdExporterImage"], self),
            network=args.network,
            alias=STATSD_ALIAS,
            command=[
                f"--statsd.listen-udp=:{STATSD_PORT}",
                "--statsd.listen-tcp=",
                f"--web.listen-address=:{STATSD_METRICS_PORT}",
            ],
            health=[f"wget -qO- http://localhost:{STATSD_METRICS_PORT}/metrics >/dev/null"],
            start_period=10,
            drop_capabilities=True,
            memory_mb=EXPORTER_MEMORY_MB,
            opts=pulumi.ResourceOptions(parent=self),
        )

    def scrape_jobs(self) -> list[ScrapeJob]:
        return [ScrapeJob(JOB, (f"{STATSD_ALIAS}:{STATSD_METRICS_PORT}",))] if self.statsd else []

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "airflowUrl": self.host_url,
            "airflowAdminUser": self.admin_user,
            "airflowAdminPassword": self.admin_password,
        }
