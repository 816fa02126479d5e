"""What a service of the platform declares about itself, in its own module.

Config validation (components/config.py) works from these declarations only,
so adding a service means declaring it here-shaped in its module and
registering it once in components/platform.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Setting:
    """A service's own config key beyond the common ones (`jenkins.previewRepo`).

    `check` returns what is wrong with a value the user gave (None: nothing); config
    validation names the key in front of it. The default is never checked.
    """

    default: Any
    check: Callable[[Any], str | None]


@dataclass(frozen=True)
class ServiceSpec:
    """A service's defaults, config keys and needs.

    `name` is the service's config key (`<name>.enabled`, `.image`, `.memoryMb`
    and its port keys); `ports` maps each port key to its default host port;
    `secrets` are the passwords a user may choose with `pulumi config set
    --secret` (else generated), each named as the stack output and the
    environment variable that carry it; `needs` are services it cannot run
    without; `outputs` are the stack outputs it exports.
    """

    name: str
    image: str
    ports: Mapping[str, int]
    memory_mb: int
    secrets: tuple[str, ...] = ()
    needs: tuple[ServiceSpec, ...] = ()
    # Services its settings make it need (Airflow's CeleryExecutor needs Redis): from its
    # validated settings, each with the reason config errors show.
    needs_for_settings: Callable[[Mapping[str, Any]], tuple[tuple[ServiceSpec, str], ...]] | None = None
    outputs: tuple[str, ...] = ()
    enabled_by_default: bool = True
    uses_docker_socket: bool = False
    # A stack-wide config key that provides this service instead (an external registry).
    replaced_by: str | None = None
    # Keys users may still have from an earlier release: old name -> new name.
    renamed_keys: Mapping[str, str] = field(default_factory=dict)
    # The shortest password the service itself accepts for its `secrets` (config refuses less).
    min_password_length: int = 8
    # Its own keys, with their defaults and checks (`<name>.<key>`), and a check of them
    # together (their values, defaults filled in) that returns the problems found.
    settings: Mapping[str, Setting] = field(default_factory=dict)
    settings_check: Callable[[Mapping[str, Any]], list[str]] | None = None
    # The further Docker hosts its settings run containers on (Airflow's remote workers), as the
    # config names them: with any, the stack needs `workerAddress` (components/config.py).
    remote_hosts: Callable[[Mapping[str, Any]], tuple[str, ...]] | None = None
    # Host ports its settings add (the model API's further replicas), named as config errors
    # show them; from its validated settings and ports. Checked against every other port.
    extra_ports: Callable[[Mapping[str, Any], Mapping[str, int]], Mapping[str, int]] | None = None


@dataclass(frozen=True)
class ScrapeLogin:
    """An account a service's metrics endpoint wants (HTTP Basic): the password a secret Output."""

    username: str
    password: Any  # pulumi.Output[str]; this module stays free of Pulumi


@dataclass(frozen=True)
class ScrapeJob:
    """What Prometheus scrapes of a service: `host:port` targets on the stack network, one path.

    Each service declares its own (its component's `scrape_jobs`); the job name is the
    `job` label that alert rules and dashboards select on.
    """

    job: str
    targets: tuple[str, ...]
    path: str = "/metrics"
    login: ScrapeLogin | None = None


MONITORING = "prometheus"  # the service whose being enabled makes the others expose their metrics


@dataclass(frozen=True)
class ServiceConfig:
    """One service's validated config."""

    name: str
    enabled: bool
    image: str
    memory_mb: int
    ports: dict[str, int]
    settings: Mapping[str, Any] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.ports["port"]


def needed(service: T | None, by: str, what: str) -> T:
    """A dependency config validation guarantees (a spec's `needs`)."""
    if service is None:
        raise AssertionError(f"{by} needs {what}, which config validation should have required")
    return service
