"""MinIO: the stack's S3 object store (DVC remote, later MLflow artifacts)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi

from components.base import (
    Mount,
    Published,
    client_command,
    data_volume,
    generated_secret,
    local_image,
    secret_password,
    service_container,
)
from components.config import StackConfig
from components.spec import ScrapeJob, ServiceConfig, ServiceSpec
from mlops_clients.contracts import S3, S3Action, S3Env

ALIAS = "minio"
JOB = "minio"  # its Prometheus job
METRICS_PATH = "/minio/v2/metrics/cluster"
S3_PORT, CONSOLE_PORT = 9000, 9001
ROOT_USER = "mlops-admin"
SPEC = ServiceSpec(
    name="minio",
    image="quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
    ports={"port": 9000, "consolePort": 9001},
    memory_mb=1024,  # 512 MB was OOM-killed by parallel multipart uploads (MLflow's artifact proxy)
    secrets=("minioRootPassword",),
    outputs=(
        "minioS3Url",
        "minioConsoleUrl",
        "minioRootUser",
        "minioRootPassword",
        "minioBuckets",
        "dvcAccessKey",
        "dvcSecretKey",
    ),
)
# What the stack stores: DVC's data of the preprocessing repo, then MLflow's artifacts.
DEFAULT_BUCKETS = ("de-datapreprocessing", "mlflow")


@dataclass
class MinioArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    buckets: tuple[str, ...] = DEFAULT_BUCKETS


class Minio(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    console_url: str
    root_user: str
    root_password: pulumi.Output[str]
    buckets: list[str]
    buckets_ready: pulumi.Resource
    stack_config: StackConfig  # what users made on this server are seeded from

    def __init__(self, name: str, args: MinioArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:minio:Minio", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{S3_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.console_url = f"http://{stack.host_address}:{service.ports['consolePort']}"
        self.root_user = ROOT_USER
        self.root_password = secret_password(f"{name}-root-password", "minioRootPassword", stack, self)
        volume = data_volume(f"{name}-data", stack, "minio-data", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            command=["server", "/data", "--console-address", f":{CONSOLE_PORT}"],
            envs=[
                f"MINIO_ROOT_USER={ROOT_USER}",
                pulumi.Output.concat("MINIO_ROOT_PASSWORD=", self.root_password),
                # Prometheus scrapes without a token (MinIO's default wants a JWT of an admin
                # account's secret key in Prometheus' config); the port is the S3 API's.
                *(["MINIO_PROMETHEUS_AUTH_TYPE=public"] if stack.monitored else []),
            ],
            mounts=[Mount(volume.name, "/data")],
            published=[
                Published(S3_PORT, service.port),
                Published(CONSOLE_PORT, service.ports["consolePort"]),
            ],
            health=[f"curl -fsS http://localhost:{S3_PORT}/minio/health/live"],
            drop_capabilities=True,  # root in its container, but needs no capability: it owns /data
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._resource_name, self.stack_config = name, stack
        self.buckets = list(args.buckets)
        self.buckets_ready = client_command(
            f"{name}-buckets",
            client=S3,
            action=S3Action.ENSURE_BUCKETS,
            environment={**self.admin_env(), S3Env.BUCKETS: ",".join(self.buckets)},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self.register_outputs(
            {
                "buckets": self.buckets,
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "consoleUrl": self.console_url,
                "rootUser": self.root_user,
                "rootPassword": self.root_password,
            }
        )

    def scrape_jobs(self) -> list[ScrapeJob]:
        return [ScrapeJob(JOB, (f"{ALIAS}:{S3_PORT}",), METRICS_PATH)] if self.stack_config.monitored else []

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "minioS3Url": self.host_url,
            "minioConsoleUrl": self.console_url,
            "minioRootUser": self.root_user,
            "minioRootPassword": self.root_password,
            "minioBuckets": self.buckets,
        }

    def admin_env(self) -> dict[str, pulumi.Input[str]]:
        """How the s3 client reaches this server as root (for buckets and users)."""
        return {S3Env.ENDPOINT: self.host_url, S3Env.ROOT_USER: self.root_user, S3Env.ROOT_PASSWORD: self.root_password}

    def service_user(self, user: str, buckets: list[str]) -> S3ServiceUser:
        """A user that can read and write these buckets' objects only: never the root user."""
        unknown = sorted(set(buckets) - set(self.buckets))
        if unknown:
            raise ValueError(f"S3 user {user} asks for buckets the stack does not create: {unknown}")
        return S3ServiceUser(
            f"{self._resource_name}-user-{user}",
            S3ServiceUserArgs(server=self, user=user, buckets=buckets),
            opts=pulumi.ResourceOptions(parent=self),
        )


@dataclass
class S3ServiceUserArgs:
    server: Minio
    user: str
    buckets: list[str]


class S3ServiceUser(pulumi.ComponentResource):
    access_key: str
    secret_key: pulumi.Output[str]
    buckets: list[str]
    ready: pulumi.Resource

    def __init__(self, name: str, args: S3ServiceUserArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:minio:S3ServiceUser", name, None, opts)
        self.access_key, self.buckets = args.user, list(args.buckets)
        self.secret_key = generated_secret(f"{name}-secret", args.server.stack_config, self)
        self.ready = client_command(
            f"{name}-ensure",
            client=S3,
            action=S3Action.ENSURE_USER,
            environment={
                **args.server.admin_env(),
                S3Env.USER: args.user,
                S3Env.USER_SECRET: self.secret_key,
                S3Env.USER_BUCKETS: ",".join(args.buckets),
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[args.server.buckets_ready]),
        )
        self.register_outputs({"accessKey": self.access_key, "buckets": self.buckets})
