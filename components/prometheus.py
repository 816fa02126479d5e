"""Prometheus: scrapes every enabled service's metrics and evaluates the stack's alert rules.

Its configuration is generated here from the services that run (each declares its own
`scrape_jobs`), so a disabled service is never a target; the rules are
monitoring/alerts.yml. Only Prometheus' own UI and API are published, on the bind
address; what it scrapes (exporters, metrics endpoints) stays on the stack network.
No Alertmanager: alerts show in its UI and API (/api/v1/alerts).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import pulumi
import pulumi_docker as docker
import yaml

from components.base import Mount, Published, data_volume, local_image, service_container
from components.config import StackConfig
from components.files import PROJECT_DIR
from components.spec import MONITORING, ScrapeJob, ServiceConfig, ServiceSpec, Setting

if TYPE_CHECKING:
    from components.platform import Platform

ALIAS = "prometheus"
INTERNAL_PORT = 9090
CONFIG_FILE = "/etc/prometheus/prometheus.yml"
RULES_FILE = "/etc/prometheus/rules/alerts.yml"
RULES_SOURCE = PROJECT_DIR / "monitoring" / "alerts.yml"
SECRETS_DIR = "/etc/prometheus/secrets"
DATA_DIR = "/prometheus"  # the official image's, owned by nobody (65534), its user
_DURATION = re.compile(r"([0-9]+(ms|s|m|h|d|w|y))+")  # Prometheus' duration syntax


def _duration_problem(value: Any) -> str | None:
    if isinstance(value, str) and _DURATION.fullmatch(value):
        return None
    return f"must be a Prometheus duration such as 15s, 1m or 15d, got {value!r}"


SPEC = ServiceSpec(
    name=MONITORING,
    image="prom/prometheus:v3.16.0",
    ports={"port": 9090},
    memory_mb=512,
    outputs=("prometheusUrl",),
    settings={
        "scrapeInterval": Setting("15s", _duration_problem),
        "retention": Setting("15d", _duration_problem),  # how long samples are kept
    },
)


@runtime_checkable
class Scraped(Protocol):
    def scrape_jobs(self) -> Sequence[ScrapeJob]: ...


def password_file(job: ScrapeJob) -> str:
    """Where a job's scrape password is uploaded: prometheus.yml names the file, never the password."""
    return f"{SECRETS_DIR}/{job.job}"


def _scrape(job: ScrapeJob) -> dict[str, Any]:
    scrape: dict[str, Any] = {"job_name": job.job, "metrics_path": job.path}
    if job.login is not None:
        scrape["basic_auth"] = {"username": job.login.username, "password_file": password_file(job)}
    scrape["static_configs"] = [{"targets": list(job.targets)}]
    return scrape


def scrape_config(jobs: Sequence[ScrapeJob], interval: str) -> str:
    """prometheus.yml: itself and the given jobs, the rules file; no credential in it."""
    names = [job.job for job in jobs]
    if len(set(names)) != len(names) or "prometheus" in names:
        raise ValueError(f"scrape job names must be unique and not 'prometheus': {names}")
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [RULES_FILE],
        "scrape_configs": [
            {"job_name": "prometheus", "static_configs": [{"targets": [f"localhost:{INTERNAL_PORT}"]}]},
            *(_scrape(job) for job in jobs),
        ],
    }
    return yaml.safe_dump(config, sort_keys=False)


@dataclass
class PrometheusArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    jobs: Sequence[ScrapeJob]


class Prometheus(pulumi.ComponentResource):
    host_url: str
    internal_url: str

    def __init__(self, name: str, args: PrometheusArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:prometheus:Prometheus", name, None, opts)
        stack, service = args.stack, args.service
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        data = data_volume(f"{name}-data", stack, "prometheus-data", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            command=[
                f"--config.file={CONFIG_FILE}",
                f"--storage.tsdb.path={DATA_DIR}",
                f"--storage.tsdb.retention.time={service.settings['retention']}",
                f"--web.listen-address=:{INTERNAL_PORT}",
            ],
            # A changed config or rule file replaces the container (Docker uploads at creation).
            uploads=[
                docker.ContainerUploadArgs(
                    file=CONFIG_FILE, content=scrape_config(args.jobs, service.settings["scrapeInterval"])
                ),
                docker.ContainerUploadArgs(file=RULES_FILE, content=RULES_SOURCE.read_text()),
                *(
                    docker.ContainerUploadArgs(
                        file=password_file(job), content=pulumi.Output.secret(job.login.password)
                    )
                    for job in args.jobs
                    if job.login is not None
                ),
            ],
            mounts=[Mount(data.name, DATA_DIR)],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"wget -qO- http://localhost:{INTERNAL_PORT}/-/ready >/dev/null"],
            start_period=20,
            interval=3,
            drop_capabilities=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"hostUrl": self.host_url})

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {"prometheusUrl": self.host_url}


def scraped_services(platform: Platform) -> list[Scraped]:
    """The running services that declare metrics, in the platform's order."""
    candidates: list[object] = [
        platform.mysql,
        platform.minio,
        platform.mlflow,
        platform.registry,
        platform.jenkins,
        platform.airflow,
        *platform.leaves,
    ]
    return [c for c in candidates if isinstance(c, Scraped)]


def deploy(stack: StackConfig, platform: Platform, opts: pulumi.ResourceOptions) -> Prometheus:
    """Built from the platform when `prometheus.enabled` (components/platform.py `LEAVES`, after the
    leaves it scrapes)."""
    jobs = [job for service in scraped_services(platform) for job in service.scrape_jobs()]
    return Prometheus("prometheus", PrometheusArgs(stack, stack.services[SPEC.name], platform.network.name, jobs), opts)
