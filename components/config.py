"""Typed stack configuration, read and validated once before any resource exists.

Every problem found in a stack's config is collected and reported in one
`ConfigError`, so a user fixes their `Pulumi.<stack>.yaml` in one pass and
nothing is half-applied.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

# Pinned default images (shared/reference/integration-facts.md §10); each is
# overridable per stack for private mirrors and air-gapped hosts.
DEFAULT_IMAGES: dict[str, str] = {
    "mysql": "mysql:8.4.11",
    "minio": "quay.io/minio/minio:RELEASE.2025-09-07T16-13-09Z",
    "gitbucket": "ghcr.io/gitbucket/gitbucket:4.46.1",
    "jenkins": "jenkins/jenkins:2.568.2-lts-jdk21",
    "airflow": "apache/airflow:3.3.2",
    "registry": "registry:3.1.1",
}

# Host ports: one per published container port. Jenkins, GitBucket and Airflow
# all listen on 8080 inside their containers, so their host defaults differ.
DEFAULT_PORTS: dict[str, dict[str, int]] = {
    "mysql": {"port": 3306},
    "minio": {"port": 9000, "consolePort": 9001},
    "gitbucket": {"port": 8080},
    "jenkins": {"port": 8090},
    "airflow": {"port": 8085},
    "registry": {"port": 5000},
}

DEFAULT_MEMORY_MB: dict[str, int] = {
    "mysql": 1024,
    "minio": 512,
    "gitbucket": 1024,
    "jenkins": 2048,
    "airflow": 1536,  # per Airflow container (api-server, scheduler, ...)
    "registry": 256,
}

# A service that another enabled service cannot run without.
REQUIRES: dict[str, tuple[str, ...]] = {
    "gitbucket": ("mysql",),
    "airflow": ("mysql",),
    "jenkins": ("gitbucket", "registry"),  # builds the seeded repo, pushes its image
}

# Passwords a user may set with `pulumi config set --secret`; unset ones are generated.
SECRET_KEYS: tuple[str, ...] = (
    "mysqlRootPassword",
    "minioRootPassword",
    "gitbucketRootPassword",
    "jenkinsAdminPassword",
    "airflowAdminPassword",
)

# Another registry instead of the local one: where images are pushed and pulled
# (`host[:port][/namespace]`), and who pushes; the password is a secret of its own.
EXTERNAL_REGISTRY_KEY = "externalRegistry"
EXTERNAL_REGISTRY_PASSWORD_KEY = "externalRegistryPassword"  # noqa: S105 (a config key, not a secret)
EXTERNAL_REGISTRY_KEYS: frozenset[str] = frozenset({"url", "username"})

# The seed the stack's generated passwords derive from (config, so it outlives `destroy`).
SECRET_SEED_KEY = "secretSeed"  # noqa: S105 (a config key, not a secret)
MIN_SEED_LENGTH = 16

TOP_LEVEL_KEYS: frozenset[str] = frozenset(
    {
        "bindAddress",
        "dockerHost",
        "dockerSocketGid",
        "retainVolumes",
        SECRET_SEED_KEY,
        EXTERNAL_REGISTRY_KEY,
        EXTERNAL_REGISTRY_PASSWORD_KEY,
        *DEFAULT_IMAGES,
        *SECRET_KEYS,
    }
)
SERVICE_KEYS: frozenset[str] = frozenset({"enabled", "image", "memoryMb", "port", "consolePort"})
MIN_MEMORY_MB = 64

# A Docker image reference: [registry[:port]/]path[:tag][@digest], as in
# distribution's reference grammar (simplified, case rules kept).
_IMAGE_REF = re.compile(
    r"^(?:(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?$"
)
_DOCKER_HOST_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")
# A repository prefix: a registry host (with a dot or a port, or localhost, else Docker
# would read it as a Docker Hub namespace), then optional lowercase path components.
_REGISTRY_PREFIX = re.compile(
    r"^(?P<host>(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|localhost)(?::[0-9]{1,5})?|[a-zA-Z0-9-]+:[0-9]{1,5})"
    r"(?P<path>(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)$"
)


class ConfigError(ValueError):
    """All problems of one stack config, listed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{listing}")


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    enabled: bool
    image: str
    memory_mb: int
    ports: dict[str, int]

    @property
    def port(self) -> int:
        return self.ports["port"]


@dataclass(frozen=True)
class ExternalRegistryConfig:
    """A registry the stack uses but does not run."""

    url: str  # host[:port][/namespace]: images are named <url>/<repository>:<tag>
    username: str | None  # None: the registry takes anonymous pushes and pulls

    @property
    def server(self) -> str:
        """What `docker login` is given."""
        return self.url.split("/", 1)[0]


@dataclass(frozen=True)
class StackConfig:
    project: str
    stack: str
    bind_address: str
    docker_host: str
    retain_volumes: bool
    docker_socket_gid: int | None
    services: dict[str, ServiceConfig]
    secrets_set: frozenset[str] = field(default_factory=frozenset)
    has_secret_seed: bool = False
    external_registry: ExternalRegistryConfig | None = None

    @property
    def prefix(self) -> str:
        """Prefix of every Docker object name, so stacks can share a host."""
        return f"{self.project}-{self.stack}"

    @property
    def network_name(self) -> str:
        return f"{self.prefix}-net"

    @property
    def host_address(self) -> str:
        """Address this machine uses to reach published ports."""
        return "127.0.0.1" if self.bind_address in ("0.0.0.0", "::") else self.bind_address  # noqa: S104

    def enabled(self, service: str) -> bool:
        return self.services[service].enabled


def is_valid_image_reference(ref: str) -> bool:
    return len(ref) <= 255 and _IMAGE_REF.match(ref) is not None


def load(
    project: str,
    stack: str,
    raw: Mapping[str, Any],
    secret_keys: frozenset[str] = frozenset(),
    socket_gid: Callable[[str], int | None] | None = None,
) -> StackConfig:
    """Validate a stack's raw config (key without namespace -> parsed value).

    `secret_keys` are the keys stored encrypted; `socket_gid` looks up the group
    of a local Docker socket (injected so tests need no socket).
    """
    problems: list[str] = []

    for key in sorted(set(raw) - TOP_LEVEL_KEYS):
        problems.append(f"unknown config key '{key}' (known: {', '.join(sorted(TOP_LEVEL_KEYS))})")

    bind_address = _string(raw, "bindAddress", "127.0.0.1", problems)
    try:
        ipaddress.ip_address(bind_address)
    except ValueError:
        problems.append(f"bindAddress '{bind_address}' is not an IP address")

    docker_host = _string(raw, "dockerHost", "unix:///var/run/docker.sock", problems)
    if not docker_host.startswith(_DOCKER_HOST_SCHEMES):
        problems.append(f"dockerHost '{docker_host}' must start with one of {', '.join(_DOCKER_HOST_SCHEMES)}")

    retain_volumes = _boolean(raw, "retainVolumes", True, problems)

    for key in SECRET_KEYS:
        if key in raw and key not in secret_keys:
            problems.append(f"'{key}' is stored in plaintext: set it with `pulumi config set --secret {key}`")
        elif key in raw and (not isinstance(raw[key], str) or len(raw[key]) < 8):
            problems.append(f"'{key}' must be a string of at least 8 characters")

    has_seed = SECRET_SEED_KEY in raw
    if has_seed and SECRET_SEED_KEY not in secret_keys:
        problems.append(f"'{SECRET_SEED_KEY}' is stored in plaintext: set it with `pulumi config set --secret`")
    elif has_seed and (not isinstance(raw[SECRET_SEED_KEY], str) or len(raw[SECRET_SEED_KEY]) < MIN_SEED_LENGTH):
        problems.append(f"'{SECRET_SEED_KEY}' must be a string of at least {MIN_SEED_LENGTH} characters")
    elif retain_volumes and not has_seed:
        problems.append(
            f"retainVolumes is true but '{SECRET_SEED_KEY}' is not set: after `pulumi destroy` a new `up` would "
            "generate passwords the retained data does not know. Set it once (scripts/up.sh does): "
            f'pulumi config set --secret {SECRET_SEED_KEY} "$(openssl rand -base64 32)"'
        )

    external_registry = _external_registry(raw, secret_keys, problems)
    # An external registry replaces the local one unless the user asks for both.
    services = {
        name: _service(name, raw.get(name), problems, default_enabled=not (name == "registry" and external_registry))
        for name in DEFAULT_IMAGES
    }
    if external_registry is not None and services["registry"].enabled:
        problems.append(
            f"'{EXTERNAL_REGISTRY_KEY}' is set and registry.enabled is true: choose one registry "
            "(remove registry.enabled to use the external one)"
        )

    used_ports: dict[int, str] = {}
    for svc in services.values():
        if not svc.enabled:
            continue
        for port_key, port in svc.ports.items():
            owner = f"{svc.name}.{port_key}"
            if port in used_ports:
                problems.append(f"host port {port} is used by both {used_ports[port]} and {owner}")
            else:
                used_ports[port] = owner

    def available(service: str) -> bool:
        return services[service].enabled or (service == "registry" and external_registry is not None)

    for svc_name, needs in REQUIRES.items():
        for needed in needs:
            if services[svc_name].enabled and not available(needed):
                alternative = f" and '{EXTERNAL_REGISTRY_KEY}' is not set" if needed == "registry" else ""
                problems.append(f"{svc_name} is enabled but needs {needed}, which is disabled{alternative}")

    gid = _socket_gid(raw, docker_host, services, socket_gid or _local_socket_gid, problems)

    if problems:
        raise ConfigError(problems)
    return StackConfig(
        project=project,
        stack=stack,
        bind_address=bind_address,
        docker_host=docker_host,
        retain_volumes=retain_volumes,
        docker_socket_gid=gid,
        services=services,
        secrets_set=frozenset(k for k in SECRET_KEYS if k in raw),
        has_secret_seed=has_seed,
        external_registry=external_registry,
    )


def _external_registry(
    raw: Mapping[str, Any], secret_keys: frozenset[str], problems: list[str]
) -> ExternalRegistryConfig | None:
    key, password_key = EXTERNAL_REGISTRY_KEY, EXTERNAL_REGISTRY_PASSWORD_KEY
    has_password = password_key in raw
    if has_password and password_key not in secret_keys:
        problems.append(
            f"'{password_key}' is stored in plaintext: set it with `pulumi config set --secret {password_key}`"
        )
    elif has_password and (not isinstance(raw[password_key], str) or not raw[password_key]):
        problems.append(f"'{password_key}' must be a non-empty string")
    value = raw.get(key)
    if value is None:
        if has_password:
            problems.append(f"'{password_key}' is set but '{key}' is not")
        return None
    if not isinstance(value, Mapping):
        problems.append(f"'{key}' must be an object with keys {', '.join(sorted(EXTERNAL_REGISTRY_KEYS))}")
        return None
    for extra in sorted(set(value) - EXTERNAL_REGISTRY_KEYS):
        problems.append(f"unknown key '{key}.{extra}' (known: {', '.join(sorted(EXTERNAL_REGISTRY_KEYS))})")
    url = value.get("url")
    if not isinstance(url, str) or not url:
        problems.append(f"'{key}.url' must be a non-empty string such as registry.example.com/team, got {url!r}")
        url = ""
    elif "://" in url:
        problems.append(f"'{key}.url' '{url}' must not have a scheme: give host[:port][/namespace]")
    elif _REGISTRY_PREFIX.match(url.rstrip("/")) is None:
        problems.append(
            f"'{key}.url' '{url}' is not host[:port][/namespace] with a registry host first "
            "(a dot, a port or localhost, e.g. registry.example.com/team or docker.io/myorg) "
            "and lowercase namespace components"
        )
    username = value.get("username")
    if username is not None and (not isinstance(username, str) or not username.strip()):
        problems.append(f"'{key}.username' must be a non-empty string, got {username!r}")
        username = None
    if username and not has_password:
        problems.append(
            f"'{key}.username' is set but '{password_key}' is not: `pulumi config set --secret {password_key}`"
        )
    if has_password and not username:
        problems.append(f"'{password_key}' is set but '{key}.username' is not")
    return ExternalRegistryConfig(url=url.rstrip("/"), username=username or None)


def _service(name: str, value: Any, problems: list[str], default_enabled: bool = True) -> ServiceConfig:
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        problems.append(f"'{name}' must be an object with keys {', '.join(sorted(SERVICE_KEYS))}")
        value = {}
    port_keys = set(DEFAULT_PORTS[name])
    for key in sorted(set(value) - SERVICE_KEYS):
        problems.append(f"unknown key '{name}.{key}'")
    for key in sorted((set(value) & {"port", "consolePort"}) - port_keys):
        problems.append(f"'{name}.{key}' does not apply to {name}")

    enabled = _boolean(value, "enabled", default_enabled, problems, prefix=f"{name}.")
    image = _string(value, "image", DEFAULT_IMAGES[name], problems, prefix=f"{name}.")
    if not is_valid_image_reference(image):
        problems.append(f"'{name}.image' is not a valid image reference: '{image}'")

    memory = value.get("memoryMb", DEFAULT_MEMORY_MB[name])
    if not _is_int(memory) or memory < MIN_MEMORY_MB:
        problems.append(f"'{name}.memoryMb' must be a whole number of MiB >= {MIN_MEMORY_MB}, got {memory!r}")
        memory = DEFAULT_MEMORY_MB[name]

    ports: dict[str, int] = {}
    for port_key, default in DEFAULT_PORTS[name].items():
        port = value.get(port_key, default)
        if not _is_int(port) or not 1 <= port <= 65535:
            problems.append(f"'{name}.{port_key}' must be a port number 1-65535, got {port!r}")
            port = default
        ports[port_key] = port
    return ServiceConfig(name=name, enabled=enabled, image=image, memory_mb=memory, ports=ports)


def _socket_gid(
    raw: Mapping[str, Any],
    docker_host: str,
    services: dict[str, ServiceConfig],
    lookup: Callable[[str], int | None],
    problems: list[str],
) -> int | None:
    """Group that may use the Docker socket: Jenkins and Airflow start containers."""
    if "dockerSocketGid" in raw:
        gid = raw["dockerSocketGid"]
        if not _is_int(gid) or gid < 0:
            problems.append(f"'dockerSocketGid' must be a non-negative whole number, got {gid!r}")
            return None
        return int(gid)
    if not (services["jenkins"].enabled or services["airflow"].enabled):
        return None
    found = lookup(docker_host) if docker_host.startswith("unix://") else None
    if found is None:
        problems.append(
            "jenkins/airflow need the Docker socket's group id: set 'dockerSocketGid' "
            f"(`stat -c %g /var/run/docker.sock` on the Docker host {docker_host})"
        )
    return found


def _local_socket_gid(docker_host: str) -> int | None:
    try:
        return os.stat(docker_host.removeprefix("unix://")).st_gid
    except OSError:
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _string(raw: Mapping[str, Any], key: str, default: str, problems: list[str], prefix: str = "") -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        problems.append(f"'{prefix}{key}' must be a non-empty string, got {value!r}")
        return default
    return value


def _boolean(raw: Mapping[str, Any], key: str, default: bool, problems: list[str], prefix: str = "") -> bool:
    value = raw.get(key, default)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if not isinstance(value, bool):
        problems.append(f"'{prefix}{key}' must be true or false, got {value!r}")
        return default
    return value


def from_pulumi() -> StackConfig:
    """Read this stack's config from the Pulumi runtime and validate it."""
    import json

    import pulumi
    from pulumi.runtime import config as runtime_config

    project, stack = pulumi.get_project(), pulumi.get_stack()
    namespace = f"{project}:"
    merged = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    raw: dict[str, Any] = {}
    secret_keys: set[str] = set()
    for full_key, value in merged.items():
        if not full_key.startswith(namespace):
            continue  # other namespaces (providers' config) are not ours to judge
        key = full_key[len(namespace) :]
        if runtime_config.is_config_secret(full_key):
            secret_keys.add(key)
        if key in (*SECRET_KEYS, SECRET_SEED_KEY, EXTERNAL_REGISTRY_PASSWORD_KEY) or not isinstance(value, str):
            raw[key] = value
            continue
        try:
            raw[key] = json.loads(value)  # structured values, numbers and booleans
        except ValueError:
            raw[key] = value
    return load(project, stack, raw, frozenset(secret_keys))
