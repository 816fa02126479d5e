"""Where Jenkins pushes and Airflow pulls the pipeline image, through the host's Docker engine.

Either a local registry run by the stack (the default) or an external one named
in the stack config, with its credentials; both offer the same attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi

from components.base import Hardening, Mount, Published, data_volume, local_image, service_container
from components.config import (
    EXTERNAL_REGISTRY_KEY,
    EXTERNAL_REGISTRY_PASSWORD_KEY,
    ExternalRegistryConfig,
    StackConfig,
)
from components.spec import ServiceConfig, ServiceSpec


class ImageRegistry(Protocol):
    @property
    def push_prefix(self) -> str:
        """Images are named `<push_prefix>/<repository>:<tag>`, as the host's engine resolves them."""
        ...

    @property
    def server(self) -> str:
        """What `docker login` is given."""
        ...

    @property
    def username(self) -> str | None:
        """None: pushes and pulls need no login."""
        ...

    @property
    def password(self) -> pulumi.Output[str] | None: ...

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]: ...


def _outputs(registry: ImageRegistry) -> dict[str, pulumi.Input[Any]]:
    exported: dict[str, pulumi.Input[Any]] = {"registryPushPrefix": registry.push_prefix}
    if registry.username is not None:
        exported["registryUser"] = registry.username
    return exported


@dataclass(frozen=True)
class ExternalRegistry:
    """A registry the stack uses but does not run: no resource, only names and credentials."""

    push_prefix: str
    server: str
    username: str | None
    password: pulumi.Output[str] | None

    @classmethod
    def from_config(cls, config: ExternalRegistryConfig) -> ExternalRegistry:
        password: pulumi.Output[str] | None = None
        if config.username is not None:
            password = pulumi.Output.secret(pulumi.Config().require_secret(EXTERNAL_REGISTRY_PASSWORD_KEY))
        return cls(push_prefix=config.url, server=config.server, username=config.username, password=password)

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return _outputs(self)


ALIAS = "registry"
INTERNAL_PORT = 5000
SPEC = ServiceSpec(
    name="registry",
    image="registry:3.1.1",
    ports={"port": 5000},
    memory_mb=256,
    outputs=("registryUrl", "registryPushPrefix", "registryUser"),
    replaced_by=EXTERNAL_REGISTRY_KEY,
)


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
    server: str
    username: str | None = None  # the local registry has no auth: it is bound to the bind address only
    password: pulumi.Output[str] | None = None

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:registry:Registry", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        # The host's engine resolves image names; loopback registries need no TLS there.
        self.push_prefix = f"localhost:{service.port}"
        self.server = self.push_prefix
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
            # Writes nothing but its volume (and uploads' scratch in /tmp).
            hardening=Hardening(drop_capabilities=True, read_only=True, tmpfs=("/tmp",)),  # noqa: S108
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "pushPrefix": self.push_prefix,
            }
        )

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {"registryUrl": self.host_url, **_outputs(self)}
