"""MinIO: the stack's S3 object store (DVC remote, later MLflow artifacts)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.base import Mount, Published, data_volume, local_image, secret_password, service_container
from components.config import ServiceConfig, StackConfig

ALIAS = "minio"
S3_PORT, CONSOLE_PORT = 9000, 9001
ROOT_USER = "mlops-admin"


@dataclass
class MinioArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]


class Minio(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    console_url: str
    root_user: str
    root_password: pulumi.Output[str]

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
            ],
            mounts=[Mount(volume.name, "/data")],
            published=[
                Published(S3_PORT, service.port),
                Published(CONSOLE_PORT, service.ports["consolePort"]),
            ],
            health=[f"curl -fsS http://localhost:{S3_PORT}/minio/health/live"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "consoleUrl": self.console_url,
                "rootUser": self.root_user,
                "rootPassword": self.root_password,
            }
        )
