"""Grafana: the stack's dashboards on its Prometheus, provisioned from files; off offline.

Everything it shows is code: the datasource (a fixed uid, so the dashboards' references
resolve) and the dashboards of monitoring/dashboards/*.json, read-only in its UI. It keeps
no state worth a volume, so a new container (a new image, a changed dashboard, a rotated
admin password) starts from the files and the configured password: Grafana applies
GF_SECURITY_ADMIN_PASSWORD only when it creates its database.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_docker as docker
import yaml

from components import prometheus
from components.base import Published, local_image, secret_password, service_container
from components.config import StackConfig
from components.files import PROJECT_DIR
from components.spec import ServiceConfig, ServiceSpec, needed

if TYPE_CHECKING:
    from components.platform import Platform

ALIAS = "grafana"
INTERNAL_PORT = 3000
ADMIN_USER = "admin"
DATASOURCE_UID = "prometheus"  # what every panel of monitoring/dashboards names
DASHBOARDS_SOURCE = PROJECT_DIR / "monitoring" / "dashboards"
PROVISIONING = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/etc/grafana/dashboards"
SPEC = ServiceSpec(
    name="grafana",
    image="grafana/grafana:13.2.3",
    ports={"port": 3000},
    memory_mb=512,  # Grafana's own minimum since v10
    secrets=("grafanaAdminPassword",),
    needs=(prometheus.SPEC,),
    outputs=("grafanaUrl", "grafanaAdminUser", "grafanaAdminPassword"),
)


def datasource(prometheus_url: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "datasources": [
                {
                    "name": "Prometheus",
                    "type": "prometheus",
                    "uid": DATASOURCE_UID,
                    "access": "proxy",
                    "url": prometheus_url,
                    "isDefault": True,
                    "editable": False,
                }
            ],
        },
        sort_keys=False,
    )


def dashboard_provider() -> str:
    return yaml.safe_dump(
        {
            "apiVersion": 1,
            "providers": [
                {
                    "name": "mlops-stack",
                    "type": "file",
                    "disableDeletion": True,
                    "allowUiUpdates": False,
                    "options": {"path": DASHBOARDS_DIR},
                }
            ],
        },
        sort_keys=False,
    )


def dashboards() -> dict[str, str]:
    """The repo's dashboards by file name, each checked to be JSON with a uid."""
    found: dict[str, str] = {}
    for path in sorted(DASHBOARDS_SOURCE.glob("*.json")):
        text = path.read_text()
        if not json.loads(text).get("uid"):
            raise ValueError(f"{path.relative_to(PROJECT_DIR)} has no uid: its URL would change on every start")
        found[path.name] = text
    return found


def settings_env() -> list[str]:
    """Anonymous access and sign-up off; no phoning home."""
    return [
        f"GF_SECURITY_ADMIN_USER={ADMIN_USER}",
        "GF_AUTH_ANONYMOUS_ENABLED=false",
        "GF_USERS_ALLOW_SIGN_UP=false",
        "GF_USERS_ALLOW_ORG_CREATE=false",
        "GF_ANALYTICS_REPORTING_ENABLED=false",
        "GF_ANALYTICS_CHECK_FOR_UPDATES=false",
        "GF_ANALYTICS_CHECK_FOR_PLUGIN_UPDATES=false",
        f"GF_PATHS_PROVISIONING={PROVISIONING}",
    ]


@dataclass
class GrafanaArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    prometheus_url: str  # on the stack network


class Grafana(pulumi.ComponentResource):
    host_url: str
    admin_user: str
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: GrafanaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:grafana:Grafana", name, None, opts)
        stack, service = args.stack, args.service
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user = ADMIN_USER
        self.admin_password = secret_password(f"{name}-admin-password", "grafanaAdminPassword", stack, self)
        files = {
            f"{PROVISIONING}/datasources/prometheus.yaml": datasource(args.prometheus_url),
            f"{PROVISIONING}/dashboards/mlops-stack.yaml": dashboard_provider(),
            **{f"{DASHBOARDS_DIR}/{file}": text for file, text in dashboards().items()},
        }
        env: pulumi.Output[list[str]] = pulumi.Output.secret(
            self.admin_password.apply(lambda password: [*settings_env(), f"GF_SECURITY_ADMIN_PASSWORD={password}"])
        )
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=env,
            uploads=[docker.ContainerUploadArgs(file=path, content=text) for path, text in files.items()],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"wget -qO- http://localhost:{INTERNAL_PORT}/api/health >/dev/null"],
            start_period=30,
            drop_capabilities=True,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"hostUrl": self.host_url, "adminPassword": self.admin_password})

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "grafanaUrl": self.host_url,
            "grafanaAdminUser": self.admin_user,
            "grafanaAdminPassword": self.admin_password,
        }


def deploy(stack: StackConfig, platform: Platform, opts: pulumi.ResourceOptions) -> Grafana:
    """Built when `grafana.enabled` (components/platform.py `LEAVES`, after Prometheus)."""
    monitor = needed(
        next((leaf for leaf in platform.leaves if isinstance(leaf, prometheus.Prometheus)), None),
        "grafana",
        "prometheus",
    )
    args = GrafanaArgs(stack, stack.services[SPEC.name], platform.network.name, monitor.internal_url)
    return Grafana("grafana", args, opts)
