"""Where Jenkins pushes and Airflow pulls the pipeline image, through the host's Docker engine.

Either a local registry run by the stack (the default) or an external one named
in the stack config, with its credentials; both offer the same attributes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_docker as docker

from components.base import Mount, Published, data_volume, local_image, secret_password, service_container
from components.config import (
    EXTERNAL_REGISTRY_KEY,
    EXTERNAL_REGISTRY_PASSWORD_KEY,
    ExternalRegistryConfig,
    StackConfig,
)
from components.spec import ScrapeJob, ServiceConfig, ServiceSpec


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

    def push_prefix_at(self, address: str | None) -> str:
        """`push_prefix` as an engine on a further host names it, reaching this host at `address`
        (None: the host's own engine)."""
        ...

    def server_at(self, address: str | None) -> str:
        """`server` as an engine on a further host logs in to it (see `push_prefix_at`)."""
        ...

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

    def push_prefix_at(self, address: str | None) -> str:
        return self.push_prefix  # the same name from every host

    def server_at(self, address: str | None) -> str:
        return self.server

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return _outputs(self)


ALIAS = "registry"
INTERNAL_PORT = 5000
DEBUG_PORT = 5001  # /debug/health and /metrics (the image's bundled config), never published
JOB = "registry"  # its Prometheus job
PIPELINE_USER = "mlops-pipeline"
HTPASSWD_FILE = "/auth/htpasswd"
SPEC = ServiceSpec(
    name="registry",
    image="registry:3.1.1",
    ports={"port": 5000},
    memory_mb=256,
    secrets=("registryPassword",),  # the pipeline account's: Jenkins pushes, Airflow pulls
    outputs=("registryUrl", "registryPushPrefix", "registryUser", "registryPassword"),
    replaced_by=EXTERNAL_REGISTRY_KEY,
)
_BCRYPT_ALPHABET = "./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"


def htpasswd_line(user: str, password: str) -> str:
    """`user:bcrypt-hash`, as the registry's htpasswd auth reads it.

    The salt derives from the password, so the same password always gives the same
    file and a re-`up` shows no diff; the password itself is 190 random bits.
    """
    import bcrypt

    digest = hashlib.sha256(b"mlops-stack/registry-salt/" + password.encode()).digest()
    salt = "".join(_BCRYPT_ALPHABET[b % 64] for b in digest[:22])
    # bcrypt's last salt character carries only 2 bits: keep it one bcrypt emits unchanged.
    salt = salt[:21] + _BCRYPT_ALPHABET[_BCRYPT_ALPHABET.index(salt[21]) & 0x30]
    hashed = bcrypt.hashpw(password.encode(), f"$2b$10${salt}".encode()).decode()
    return f"{user}:{hashed}\n"


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
    username: str | None
    password: pulumi.Output[str] | None

    def __init__(self, name: str, args: RegistryArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:registry:Registry", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        # The host's engine resolves image names; loopback registries need no TLS there.
        self.push_prefix = f"localhost:{service.port}"
        self.server = self.push_prefix
        self._port = service.port
        # Pushes and pulls need a login: only Jenkins and Airflow are given it.
        self.username = PIPELINE_USER
        self.password = secret_password(f"{name}-pipeline-password", "registryPassword", stack, self)
        htpasswd: pulumi.Output[str] = pulumi.Output.secret(
            self.password.apply(lambda password: htpasswd_line(PIPELINE_USER, password))
        )
        volume = data_volume(f"{name}-data", stack, "registry-data", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=[
                "REGISTRY_STORAGE_DELETE_ENABLED=true",
                "REGISTRY_AUTH=htpasswd",
                "REGISTRY_AUTH_HTPASSWD_REALM=mlops-stack registry",
                f"REGISTRY_AUTH_HTPASSWD_PATH={HTPASSWD_FILE}",
            ],
            uploads=[docker.ContainerUploadArgs(file=HTPASSWD_FILE, content=htpasswd)],
            mounts=[Mount(volume.name, "/var/lib/registry")],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"wget -qO- http://localhost:{DEBUG_PORT}/debug/health >/dev/null"],
            # Not read-only: Docker copies the htpasswd upload into the root filesystem before start.
            drop_capabilities=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "pushPrefix": self.push_prefix,
            }
        )

    def push_prefix_at(self, address: str | None) -> str:
        # Plain HTTP there: that engine lists it in `insecure-registries` (README, "Workers on further hosts").
        return self.push_prefix if address is None else f"{address}:{self._port}"

    def server_at(self, address: str | None) -> str:
        return self.push_prefix_at(address)

    def scrape_jobs(self) -> list[ScrapeJob]:
        return [ScrapeJob(JOB, (f"{ALIAS}:{DEBUG_PORT}",))]

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {"registryUrl": self.host_url, **_outputs(self), "registryPassword": self.password}
