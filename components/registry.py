"""A local image registry: Jenkins pushes and Airflow pulls through the host's Docker engine."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.base import Mount, Published, data_volume, local_image, service_container
from components.config import ServiceConfig, StackConfig

ALIAS = "registry"
INTERNAL_PORT = 5000


@dataclass
class RegistryArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]


class Registry(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    push_prefix: str

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:registry:Registry", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        # The host's engine resolves image names; loopback registries need no TLS there.
        self.push_prefix = f"localhost:{service.port}"
        volume = data_volume(f"{name}-data", stack, "registry-data", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=["REGISTRY_STORAGE_DELETE_ENABLED=true"],
            mounts=[Mount(volume.name, "/var/lib/registry")],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"wget -qO- http://localhost:{INTERNAL_PORT}/v2/ >/dev/null"],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "pushPrefix": self.push_prefix,
            }
        )
