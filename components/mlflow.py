"""MLflow: experiment tracking and the model registry, on MySQL, with artifacts in the object store.

Two containers: a one-shot `prepare` (schema migration and accounts, as
Airflow's `db migrate`) and the server, which only starts once it succeeded.
The server runs MLflow's basic-auth app: every request needs an account. It
serves artifacts itself (`--serve-artifacts`) into the `mlflow` bucket, as an
S3 user scoped to that bucket that only the server holds: clients need the
tracking URI and an account, never S3 credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components import minio, mysql
from components.base import (
    Mount,
    Published,
    after_step,
    data_volume,
    derived_image,
    generated_secret,
    one_shot_container,
    scratch_volume,
    secret_password,
    service_container,
)
from components.config import StackConfig
from components.files import MLFLOW_IMAGE_CONTEXT, PROJECT_DIR
from components.minio import Minio, S3ServiceUser
from components.mysql import MySQL, ServiceDatabase
from components.spec import ScrapeJob, ServiceConfig, ServiceSpec
from mlops_clients.contracts import (
    MLFLOW_METRICS_PORT,
    MLFLOW_MIN_PASSWORD_LENGTH,
    MLFLOW_SERVER,
    MULTIPROC_DIR_VARIABLE,
    MLflowAction,
    MLflowEnv,
)

ALIAS = "mlflow"
METRICS_ALIAS = "mlflow-metrics"
METRICS_SIDECAR_MEMORY_MB = 128  # Python and prometheus_client only
INTERNAL_PORT = 5000
ADMIN_USER = "admin"
PIPELINE_USER = "mlflow-pipeline"
BUCKET = "mlflow"
SPEC = ServiceSpec(
    name="mlflow",
    image="ghcr.io/mlflow/mlflow:v3.17.2",
    ports={"port": 5050},  # 5000 is the registry's
    memory_mb=1024,
    secrets=("mlflowAdminPassword", "mlflowPipelinePassword"),
    needs=(mysql.SPEC, minio.SPEC),
    outputs=("mlflowUrl", "mlflowAdminUser", "mlflowAdminPassword", "mlflowPipelineUser", "mlflowPipelinePassword"),
    min_password_length=MLFLOW_MIN_PASSWORD_LENGTH,
)
# One uvicorn worker (MLflow's default is 4): each loads all of MLflow (~250 MB); requests
# are still served concurrently (the WSGI app runs in a thread pool).
WORKERS = 1
# The server runs as nobody: it needs no file of its own but its metrics directory.
SERVER_USER = "65534:65534"
METRICS_DIR = "/var/lib/mlflow-metrics"  # made by images/mlflow/Dockerfile, owned by SERVER_USER
JOB = "mlflow"  # its Prometheus job
AUTH_CONFIG_FILE = "/etc/mlflow/basic_auth.ini"
# The basic-auth app's user store: SQLite on a volume (MLflow's auth schema cannot be created
# on MySQL: two of its foreign keys share a name, and MySQL's are unique per database).
AUTH_DIR = "/var/lib/mlflow-auth"  # made by images/mlflow/Dockerfile, owned by SERVER_USER
AUTH_DATABASE_URI = f"sqlite:///{AUTH_DIR}/basic_auth.db"
# What the server's environment holds besides its secrets.
SERVER_SETTINGS = {
    "HOME": "/tmp",  # noqa: S108 (the container's own)
    MLflowEnv.AUTH_CONFIG_PATH.value: AUTH_CONFIG_FILE,
    # No GenAI job runner (7 Huey consumers, about 1 GB): the stack runs no server-side jobs.
    "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
}
# The prepare step's code (standard library + what the MLflow image has), uploaded, not baked in.
CLIENT_DIR = "/opt/mlops"
CLIENT_FILES = ("__init__.py", "common.py", "contracts.py", "mlflow_server.py")


def auth_config(database_uri: str = AUTH_DATABASE_URI) -> str:
    """basic_auth.ini: an account sees nothing it was not granted.

    Creators get MANAGE on what they create, so the pipeline account reaches its
    own experiments and models; anything else needs a grant or the admin.
    """
    return "\n".join(
        [
            "[mlflow]",
            "default_permission = NO_PERMISSIONS",
            f"database_uri = {database_uri}",
            f"admin_username = {ADMIN_USER}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            "grant_default_workspace_access = false",
            "",
        ]
    )


def allowed_hosts(stack: StackConfig, host_port: int) -> str:
    """Host headers the server answers (MLflow's DNS-rebinding guard): its name on the
    network, loopback, the address it is published on, and the worker address (where workers
    on further hosts reach it through Airflow's worker gateway)."""
    hosts = [ALIAS, f"{ALIAS}:{INTERNAL_PORT}", "localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*"]
    for address in (stack.host_address, stack.worker_address):
        if address is not None and address not in ("localhost", "127.0.0.1"):
            hosts += [address, f"{address}:{host_port}"]
    return ",".join(hosts)


def server_command(hosts: str) -> list[str]:
    """The server: basic-auth on every request, artifacts proxied into the bucket, metrics on /metrics."""
    return [
        "mlflow",
        "server",
        "--app-name",
        "basic-auth",
        "--host",
        "0.0.0.0",  # noqa: S104 (inside its container; published on the bind address only)
        "--port",
        str(INTERNAL_PORT),
        "--workers",
        str(WORKERS),
        "--serve-artifacts",
        "--artifacts-destination",
        f"s3://{BUCKET}/artifacts",
        "--expose-prometheus",
        METRICS_DIR,
        "--allowed-hosts",
        hosts,
    ]


def client_command(action: MLflowAction) -> list[str]:
    """A step of mlops_clients/mlflow_server.py (uploaded to CLIENT_DIR): prepare, serve-metrics."""
    return ["python", "-P", "-m", f"mlops_clients.{MLFLOW_SERVER.module}", action.value]


@dataclass
class MLflowArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    mysql: MySQL
    database: ServiceDatabase
    minio: Minio
    s3_user: S3ServiceUser  # scoped to the artifact bucket; held by the server only


class MLflow(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    admin_user: str
    admin_password: pulumi.Output[str]
    pipeline_user: str
    pipeline_password: pulumi.Output[str]
    ready: pulumi.Resource

    def __init__(self, name: str, args: MLflowArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:mlflow:MLflow", name, None, opts)
        stack, service, db = args.stack, args.service, args.database
        if BUCKET not in args.s3_user.buckets:
            raise ValueError(f"MLflow's S3 user must be scoped to the '{BUCKET}' bucket, not {args.s3_user.buckets}")
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user, self.pipeline_user = ADMIN_USER, PIPELINE_USER
        self.admin_password = secret_password(f"{name}-admin-password", "mlflowAdminPassword", stack, self)
        self.pipeline_password = secret_password(f"{name}-pipeline-password", "mlflowPipelinePassword", stack, self)
        flask_secret = generated_secret(f"{name}-flask-secret-key", stack, self)
        database_uri: pulumi.Output[str] = pulumi.Output.secret(
            pulumi.Output.concat(
                "mysql+pymysql://",
                db.user,
                ":",
                db.password,
                f"@{args.mysql.internal_host}:{args.mysql.internal_port}/",
                db.database,
                "?charset=utf8mb4",
            )
        )
        users = Mount(data_volume(f"{name}-auth", stack, "mlflow-auth", self).name, AUTH_DIR)
        metrics = scratch_volume(f"{name}-metrics-dir", stack, "mlflow-metrics", self) if stack.monitored else None
        image = derived_image(f"{name}-image", stack, MLFLOW_IMAGE_CONTEXT, {"MLFLOW_IMAGE": service.image}, self)

        client_dir = PROJECT_DIR / "mlops_clients"
        client_uploads = [
            docker.ContainerUploadArgs(
                file=f"{CLIENT_DIR}/mlops_clients/{file}", content=(client_dir / file).read_text()
            )
            for file in CLIENT_FILES
        ]
        secrets = pulumi.Output.all(database_uri, self.admin_password, self.pipeline_password)
        prepare_env: pulumi.Output[list[str]] = pulumi.Output.secret(
            secrets.apply(
                lambda secrets: [
                    f"PYTHONPATH={CLIENT_DIR}",
                    f"{MLflowEnv.BACKEND_STORE_URI}={secrets[0]}",
                    f"{MLflowEnv.AUTH_DATABASE_URI}={AUTH_DATABASE_URI}",
                    f"{MLflowEnv.ADMIN_USER}={ADMIN_USER}",
                    f"{MLflowEnv.ADMIN_PASSWORD}={secrets[1]}",
                    f"{MLflowEnv.PIPELINE_USER}={PIPELINE_USER}",
                    f"{MLflowEnv.PIPELINE_PASSWORD}={secrets[2]}",
                ]
            )
        )
        # Replaced (so run again) whenever its image, code or secrets change: a rotated
        # password reaches the user store before the server is restarted with it.
        self.prepare, prepared = one_shot_container(
            f"{name}-prepare",
            stack=stack,
            service=service,
            image=image,
            network=args.network,
            command=client_command(MLflowAction.PREPARE),
            envs=prepare_env,
            user=SERVER_USER,
            working_dir="/tmp",  # noqa: S108
            mounts=[users],
            uploads=client_uploads,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[db.ready]),
        )
        server_secrets = pulumi.Output.all(database_uri, flask_secret, args.s3_user.secret_key)
        server_env: pulumi.Output[list[str]] = pulumi.Output.secret(
            server_secrets.apply(
                lambda secrets: [
                    *(f"{key}={value}" for key, value in SERVER_SETTINGS.items()),
                    f"{MLflowEnv.BACKEND_STORE_URI}={secrets[0]}",
                    f"{MLflowEnv.FLASK_SECRET_KEY}={secrets[1]}",
                    f"MLFLOW_S3_ENDPOINT_URL={args.minio.internal_url}",
                    f"AWS_ACCESS_KEY_ID={args.s3_user.access_key}",
                    f"AWS_SECRET_ACCESS_KEY={secrets[2]}",
                    "AWS_DEFAULT_REGION=us-east-1",
                ]
            )
        )
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=image,
            network=args.network,
            alias=ALIAS,
            command=server_command(allowed_hosts(stack, service.port)),
            envs=after_step(server_env, prepared),
            user=SERVER_USER,
            uploads=[docker.ContainerUploadArgs(file=AUTH_CONFIG_FILE, content=auth_config(), permissions="0444")],
            mounts=[users, *([Mount(metrics.name, METRICS_DIR)] if metrics else [])],
            published=[Published(INTERNAL_PORT, service.port)],
            # The official image has no curl: Python's own HTTP client.
            health=[
                "python -c \"import urllib.request; urllib.request.urlopen('http://localhost:"
                f"{INTERNAL_PORT}/health', timeout=5)\""
            ],
            start_period=60,
            interval=3,
            wait_timeout=300,
            drop_capabilities=True,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.prepare, args.s3_user.ready]),
        )
        self.ready = self.container
        # MLflow's /metrics needs the admin's login: Prometheus reads the same numbers from a
        # sidecar that serves the server's metrics files, read-only, on the stack network only.
        self.metrics = None
        if metrics is not None:
            self.metrics = service_container(
                f"{name}-metrics",
                stack=stack,
                service=service,
                image=image,
                network=args.network,
                alias=METRICS_ALIAS,
                command=client_command(MLflowAction.SERVE_METRICS),
                envs=[f"PYTHONPATH={CLIENT_DIR}", f"{MULTIPROC_DIR_VARIABLE}={METRICS_DIR}"],
                user=SERVER_USER,
                uploads=client_uploads,
                mounts=[Mount(metrics.name, METRICS_DIR, read_only=True)],
                health=[
                    "python -c \"import urllib.request; urllib.request.urlopen('http://localhost:"
                    f"{MLFLOW_METRICS_PORT}/metrics', timeout=5)\""
                ],
                start_period=10,
                drop_capabilities=True,
                memory_mb=METRICS_SIDECAR_MEMORY_MB,
                opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
            )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
                "pipelineUser": self.pipeline_user,
                "pipelinePassword": self.pipeline_password,
            }
        )

    def scrape_jobs(self) -> list[ScrapeJob]:
        return [ScrapeJob(JOB, (f"{METRICS_ALIAS}:{MLFLOW_METRICS_PORT}",))] if self.metrics else []

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "mlflowUrl": self.host_url,
            "mlflowAdminUser": self.admin_user,
            "mlflowAdminPassword": self.admin_password,
            "mlflowPipelineUser": self.pipeline_user,
            "mlflowPipelinePassword": self.pipeline_password,
        }
