"""Typed stack configuration, read and validated once before any resource exists.

Every problem found in a stack's config is collected and reported in one
`ConfigError`, so a user fixes their `Pulumi.<stack>.yaml` in one pass and
nothing is half-applied.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from components.spec import MONITORING, ServiceConfig, ServiceSpec

# Stack-wide keys: every service's own keys are declared in its module (components/spec.py).
BIND_ADDRESS_KEY, DOCKER_HOST_KEY, SOCKET_GID_KEY, RETAIN_VOLUMES_KEY = (
    "bindAddress",
    "dockerHost",
    "dockerSocketGid",
    "retainVolumes",
)

# Another registry instead of the local one: where images are pushed and pulled
# (`host[:port][/namespace]`), and who pushes; the password is a secret of its own.
EXTERNAL_REGISTRY_KEY = "externalRegistry"
EXTERNAL_REGISTRY_PASSWORD_KEY = "externalRegistryPassword"  # noqa: S105 (a config key, not a secret)
EXTERNAL_REGISTRY_KEYS: frozenset[str] = frozenset({"url", "username"})

# The address of the Docker host that worker hosts of other machines reach its services at
# (Airflow's workers on further engines): those services' ports are also published on it.
WORKER_ADDRESS_KEY = "workerAddress"

# The seed the stack's generated passwords derive from (config, so it outlives `destroy`).
SECRET_SEED_KEY = "secretSeed"  # noqa: S105 (a config key, not a secret)
MIN_SEED_LENGTH = 16

STACK_WIDE_KEYS: frozenset[str] = frozenset(
    {
        BIND_ADDRESS_KEY,
        DOCKER_HOST_KEY,
        SOCKET_GID_KEY,
        RETAIN_VOLUMES_KEY,
        SECRET_SEED_KEY,
        EXTERNAL_REGISTRY_KEY,
        EXTERNAL_REGISTRY_PASSWORD_KEY,
        WORKER_ADDRESS_KEY,
    }
)
# Keys every service has; its port keys come from its declaration.
COMMON_SERVICE_KEYS: frozenset[str] = frozenset({"enabled", "image", "memoryMb"})
MIN_MEMORY_MB, MAX_MEMORY_MB = 64, 1024 * 1024  # 1 TiB: beyond it is a typo, not a host
# Passwords travel in URLs, Basic auth and SQL: printable ASCII only (requests encodes Basic
# auth as latin-1, GitBucket decodes UTF-8), and GitBucket stores at most 40 characters.
MIN_PASSWORD_LENGTH, MAX_PASSWORD_LENGTH = 8, 40
_PASSWORD = re.compile(r"[\x21-\x7e]+", re.ASCII)

# A Docker image reference: [registry[:port]/]path[:tag][@digest], as in
# distribution's reference grammar (simplified, case rules kept).
_IMAGE_REF = re.compile(
    r"(?:(?P<registry>[a-zA-Z0-9.-]+(?::[0-9]+)?)/)?"
    r"(?P<path>[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)"
    r"(?::(?P<tag>[\w][\w.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[a-f0-9]{64}))?",
    re.ASCII,
)
_DOCKER_HOST_SCHEMES = ("unix://", "tcp://", "ssh://", "npipe://")
# Docker object and image names are made from it: lowercase, single separators.
STACK_NAME = re.compile(r"[a-z0-9]+(?:[._-][a-z0-9]+)*", re.ASCII)
# A repository prefix: a registry host (with a dot or a port, or localhost, else Docker
# would read it as a Docker Hub namespace), then optional lowercase path components.
_REGISTRY_PREFIX = re.compile(
    r"(?P<host>(?:[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)+|localhost)(?::(?P<port>[0-9]{1,5}))?"
    r"|[a-zA-Z0-9-]+:(?P<bare_port>[0-9]{1,5}))"
    r"(?P<path>(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*)",
    re.ASCII,
)


class ConfigError(ValueError):
    """All problems of one stack config, listed."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        listing = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"invalid stack configuration ({len(problems)} problem(s)):\n{listing}")


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
    # Set when services run containers on further Docker hosts (Airflow's remote workers).
    worker_address: str | None = None

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

    @property
    def is_loopback(self) -> bool:
        return _is_loopback(self.bind_address)

    def enabled(self, service: str) -> bool:
        return self.services[service].enabled

    @property
    def monitored(self) -> bool:
        """Prometheus runs: services expose their metrics to it (exporters, StatsD, open endpoints)."""
        return MONITORING in self.services and self.enabled(MONITORING)


def is_valid_image_reference(ref: str) -> bool:
    return len(ref) <= 255 and _IMAGE_REF.fullmatch(ref) is not None


def load(
    project: str,
    stack: str,
    raw: Mapping[str, Any],
    specs: Sequence[ServiceSpec],
    secret_keys: frozenset[str] = frozenset(),
    socket_gid: Callable[[str], int | None] | None = None,
) -> StackConfig:
    """Validate a stack's raw config (key without namespace -> parsed value) against
    the stack-wide keys and the services' declarations.

    `secret_keys` are the keys stored encrypted; `socket_gid` looks up the group
    of a local Docker socket (injected so tests need no socket).
    """
    problems: list[str] = []
    min_lengths = {key: spec.min_password_length for spec in specs for key in spec.secrets}
    service_secrets = tuple(min_lengths)
    renamed = {old: new for spec in specs for old, new in spec.renamed_keys.items()}
    known = known_keys(specs)

    if not STACK_NAME.fullmatch(stack):
        problems.append(
            f"stack name '{stack}' cannot name Docker objects and images: use lowercase letters and digits, "
            "with single '-', '_' or '.' between them (e.g. dev, team-a)"
        )
    for key in sorted(set(raw) - known):
        if key in renamed:
            problems.append(f"config key '{key}' is now '{renamed[key]}' (the name of its stack output): rename it")
        else:
            problems.append(f"unknown config key '{key}' (known: {', '.join(sorted(known))})")

    bind_address = _string(raw, BIND_ADDRESS_KEY, "127.0.0.1", problems)
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = None
    try:
        address = ipaddress.ip_address(bind_address)
    except ValueError:
        problems.append(f"bindAddress '{bind_address}' is not an IP address")
    else:
        if address.version == 6:
            problems.append(
                f"bindAddress '{bind_address}' is IPv6: not supported (clients are given host:port without "
                "brackets); use 127.0.0.1, 0.0.0.0 or an IPv4 address of this host"
            )

    docker_host = _string(raw, DOCKER_HOST_KEY, "unix:///var/run/docker.sock", problems)
    if not docker_host.startswith(_DOCKER_HOST_SCHEMES) or docker_host in _DOCKER_HOST_SCHEMES:
        problems.append(
            f"dockerHost '{docker_host}' must be one of {', '.join(_DOCKER_HOST_SCHEMES)} followed by a socket "
            "path or a host"
        )
    elif (
        not docker_host.startswith("unix://")
        and address is not None
        and (address.is_loopback or address.is_unspecified)
    ):
        problems.append(
            f"dockerHost '{docker_host}' is another machine but bindAddress is {bind_address}: the set-up steps "
            "run here and would send the services' admin passwords to whatever listens on this machine's "
            "loopback; set bindAddress to the Docker host's address, or run Pulumi on the Docker host"
        )

    retain_volumes = _boolean(raw, RETAIN_VOLUMES_KEY, True, problems)

    for key in service_secrets:
        if key in raw and key not in secret_keys:
            problems.append(f"'{key}' is stored in plaintext: set it with `pulumi config set --secret {key}`")
        elif key in raw:
            problems.extend(_password_problems(key, raw[key], min_lengths[key]))

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
    provided = {EXTERNAL_REGISTRY_KEY} if external_registry is not None else set()
    # A service that something stack-wide replaces (an external registry) is off unless asked for.
    services = {
        spec.name: _service(
            spec,
            raw.get(spec.name),
            problems,
            default_enabled=spec.enabled_by_default and spec.replaced_by not in provided,
        )
        for spec in specs
    }
    for spec in specs:
        if spec.replaced_by in provided and services[spec.name].enabled:
            problems.append(
                f"'{spec.replaced_by}' is set and {spec.name}.enabled is true: choose one "
                f"(remove {spec.name}.enabled to use '{spec.replaced_by}')"
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

    for spec in specs:
        for needed in spec.needs:
            if services[spec.name].enabled and not services[needed.name].enabled and needed.replaced_by not in provided:
                alternative = f" and '{needed.replaced_by}' is not set" if needed.replaced_by else ""
                problems.append(f"{spec.name} is enabled but needs {needed.name}, which is disabled{alternative}")
        if spec.needs_for_settings is not None and services[spec.name].enabled:
            for needed, reason in spec.needs_for_settings(services[spec.name].settings):
                if not services[needed.name].enabled:
                    problems.append(
                        f"{reason}: it needs {needed.name}, which is disabled (set {needed.name}.enabled true)"
                    )

    registry_service = services.get("registry")
    if (
        registry_service is not None
        and registry_service.enabled
        and address is not None
        and address.version == 4
        and not (address.is_loopback or address.is_unspecified)
    ):
        problems.append(
            f"bindAddress {bind_address} with the local registry: the host's engine pushes and pulls at "
            "localhost, where the registry would not listen (and would need TLS anywhere else); use "
            f"127.0.0.1 or 0.0.0.0, or set '{EXTERNAL_REGISTRY_KEY}'"
        )

    worker_address = _worker_address(raw, specs, services, bind_address, problems)

    socket_users = [spec.name for spec in specs if spec.uses_docker_socket and services[spec.name].enabled]
    gid = _socket_gid(raw, docker_host, socket_users, socket_gid or _local_socket_gid, problems)

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
        secrets_set=frozenset(k for k in service_secrets if k in raw),
        has_secret_seed=has_seed,
        external_registry=external_registry,
        worker_address=worker_address,
    )


def _worker_address(
    raw: Mapping[str, Any],
    specs: Sequence[ServiceSpec],
    services: Mapping[str, ServiceConfig],
    bind_address: str,
    problems: list[str],
) -> str | None:
    """The address further Docker hosts reach this one at: required with such hosts, refused without.

    It must be an address those hosts can route to: not loopback (their own), not 0.0.0.0.
    """
    remote = [
        (spec.name, host)
        for spec in specs
        if spec.remote_hosts is not None and services[spec.name].enabled
        for host in spec.remote_hosts(services[spec.name].settings)
    ]
    value = raw.get(WORKER_ADDRESS_KEY)
    if value is None:
        if remote:
            name, host = remote[0]
            problems.append(
                f"{name} runs containers on {host}, which cannot reach this host's services on loopback: set "
                f"'{WORKER_ADDRESS_KEY}' to this host's address that {host} reaches (its ports are published there)"
            )
        return None
    if not remote:
        # Unless the hosts themselves were refused (then that is the problem reported).
        owners = tuple(f"'{spec.name}." for spec in specs if spec.remote_hosts is not None)
        if not any(p.startswith(owners) for p in problems):
            problems.append(
                f"'{WORKER_ADDRESS_KEY}' is set but no service runs on a further Docker host: remove it "
                "(it publishes the workers' ports there)"
            )
        return None
    try:
        address = ipaddress.ip_address(value) if isinstance(value, str) else None
    except ValueError:
        address = None
    if address is None or address.version != 4:
        problems.append(f"'{WORKER_ADDRESS_KEY}' must be an IPv4 address of this host, got {value!r}")
        return None
    if address.is_loopback or address.is_unspecified:
        problems.append(
            f"'{WORKER_ADDRESS_KEY}' is {value}: {remote[0][1]} cannot reach this host there (loopback is its own, "
            "0.0.0.0 is no address); use the address of this host on the network they share"
        )
        return None
    if bind_address in (value, "0.0.0.0"):  # noqa: S104
        problems.append(
            f"bindAddress {bind_address} covers '{WORKER_ADDRESS_KEY}' {value}: the services' ports would be published "
            "there twice (and all of them, not only the workers'); keep bindAddress on loopback"
        )
        return None
    return str(address)


def known_keys(specs: Sequence[ServiceSpec]) -> frozenset[str]:
    """Every config key of the stack: the stack-wide ones, each service's and its secrets."""
    return STACK_WIDE_KEYS | {spec.name for spec in specs} | {key for spec in specs for key in spec.secrets}


def _is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def _password_problems(key: str, value: Any, min_length: int = MIN_PASSWORD_LENGTH) -> list[str]:
    if not isinstance(value, str) or not min_length <= len(value) <= MAX_PASSWORD_LENGTH:
        return [f"'{key}' must be a string of {min_length} to {MAX_PASSWORD_LENGTH} characters"]
    if not _PASSWORD.fullmatch(value):
        return [f"'{key}' may hold printable ASCII characters only (no spaces, newlines or accented letters)"]
    return []


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
    elif "://" in url or "@" in url:
        problems.append(
            f"'{key}.url' {_redacted(url)!r} must be host[:port][/namespace], without a scheme or credentials "
            f"(the password goes in '{password_key}')"
        )
    elif (prefix := _REGISTRY_PREFIX.fullmatch(url.rstrip("/"))) is None:
        problems.append(
            f"'{key}.url' {_redacted(url)!r} is not host[:port][/namespace] with a registry host first "
            "(a dot, a port or localhost, e.g. registry.example.com/team or docker.io/myorg) "
            "and lowercase namespace components"
        )
    elif not 1 <= int(prefix.group("port") or prefix.group("bare_port") or 443) <= 65535:
        problems.append(f"'{key}.url' {_redacted(url)!r} has a port outside 1-65535")
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


def _service(spec: ServiceSpec, value: Any, problems: list[str], default_enabled: bool) -> ServiceConfig:
    name = spec.name
    keys = COMMON_SERVICE_KEYS | set(spec.ports) | set(spec.settings)
    if value is None:
        value = {}
    if not isinstance(value, Mapping):
        problems.append(f"'{name}' must be an object with keys {', '.join(sorted(keys))}")
        value = {}
    for key in sorted(set(value) - keys):
        problems.append(f"unknown key '{name}.{key}' (known: {', '.join(sorted(keys))})")

    enabled = _boolean(value, "enabled", default_enabled, problems, prefix=f"{name}.")
    image = _string(value, "image", spec.image, problems, prefix=f"{name}.")
    if not is_valid_image_reference(image):
        problems.append(f"'{name}.image' is not a valid image reference: {image!r}")

    memory = value.get("memoryMb", spec.memory_mb)
    if not is_whole_number(memory) or not MIN_MEMORY_MB <= memory <= MAX_MEMORY_MB:
        problems.append(
            f"'{name}.memoryMb' must be a whole number of MiB from {MIN_MEMORY_MB} to {MAX_MEMORY_MB}, got {memory!r}"
        )
        memory = spec.memory_mb

    ports: dict[str, int] = {}
    for port_key, default in spec.ports.items():
        port = value.get(port_key, default)
        if not is_whole_number(port) or not 1 <= port <= 65535:
            problems.append(f"'{name}.{port_key}' must be a port number 1-65535, got {port!r}")
            port = default
        ports[port_key] = port

    settings: dict[str, Any] = {}
    for key, setting in spec.settings.items():
        settings[key] = value.get(key, setting.default)
        problem = setting.check(settings[key]) if key in value else None
        if problem is not None:
            problems.append(f"'{name}.{key}' {problem}")
            settings[key] = setting.default
    if spec.settings_check is not None:
        problems.extend(spec.settings_check(settings))
    if spec.extra_ports is not None:
        for label, port in spec.extra_ports(settings, dict(ports)).items():
            if not 1 <= port <= 65535:
                problems.append(f"'{name}' {label} would be on port {port}, outside 1-65535")
            ports[label] = port
    return ServiceConfig(name=name, enabled=enabled, image=image, memory_mb=memory, ports=ports, settings=settings)


def _socket_gid(
    raw: Mapping[str, Any],
    docker_host: str,
    socket_users: list[str],
    lookup: Callable[[str], int | None],
    problems: list[str],
) -> int | None:
    """Group that may use the Docker socket, for the services that start containers."""
    if "dockerSocketGid" in raw:
        gid = raw["dockerSocketGid"]
        if not is_whole_number(gid) or gid < 0:
            problems.append(f"'dockerSocketGid' must be a non-negative whole number, got {gid!r}")
            return None
        return int(gid)
    if not socket_users:
        return None
    found = lookup(docker_host) if docker_host.startswith("unix://") else None
    if found is None:
        problems.append(
            f"{'/'.join(socket_users)} start containers: set 'dockerSocketGid' to the Docker socket's group id "
            f"(`stat -c %g /var/run/docker.sock` on the Docker host {docker_host})"
        )
    return found


def _local_socket_gid(docker_host: str) -> int | None:
    try:
        return os.stat(docker_host.removeprefix("unix://")).st_gid
    except OSError:
        return None


def _redacted(url: str) -> str:
    """A URL as it may appear in an error: credentials before an '@' replaced."""
    return re.sub(r"^((?:[a-zA-Z][a-zA-Z0-9+.-]*://)?)[^/@]*@", r"\1[redacted]@", url)


def is_whole_number(value: Any) -> TypeGuard[int]:
    """An int that is not a bool (YAML's `true` is one in Python)."""
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


def from_pulumi(specs: Sequence[ServiceSpec]) -> StackConfig:
    """Read this stack's config through `pulumi.Config` and validate it.

    Known keys are read by name. The language host also hands the program the
    whole config and the names of its encrypted keys (PULUMI_CONFIG and
    PULUMI_CONFIG_SECRET_KEYS, read by `pulumi.runtime`'s public helpers): from
    them come the unknown keys and which values were stored in plaintext.
    """
    import pulumi

    project, stack = pulumi.get_project(), pulumi.get_stack()
    namespace = f"{project}:"
    config = pulumi.Config()
    renamed = {old for spec in specs for old in spec.renamed_keys}
    passwords = {key for spec in specs for key in spec.secrets} | {SECRET_SEED_KEY, EXTERNAL_REGISTRY_PASSWORD_KEY}
    known = known_keys(specs) | renamed
    handed = {k.removeprefix(namespace) for k in pulumi.runtime.get_config_env() if k.startswith(namespace)}
    encrypted = {
        k.removeprefix(namespace) for k in pulumi.runtime.get_config_secret_keys_env() if k.startswith(namespace)
    }
    raw: dict[str, Any] = {}
    for key in sorted(known | handed):
        text = config.get(key)
        if text is None:
            continue
        if pulumi.runtime.is_config_secret(config.full_key(key)):
            encrypted.add(key)
        raw[key] = text if key in passwords else _parsed(text)
    return load(project, stack, raw, specs, frozenset(encrypted))


def _parsed(text: str) -> Any:
    """Structured values, numbers and booleans as Pulumi stores them (JSON); anything else as text."""
    import json

    try:
        return json.loads(text)
    except ValueError:
        return text
