"""Redis: the broker of Airflow's CeleryExecutor (`airflow.executor: celery`), off by default.

Its one client is Airflow: one ACL account for it (everything but the admin
commands), the default account off, and a ping-only account for the health
check. The password reaches Redis in its config file, never on a command line.
Not published: only containers on the stack network reach it, and Airflow's workers on
further Docker hosts through Airflow's worker gateway, at `redis.port` on `workerAddress`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pulumi
import pulumi_docker as docker

from components.base import Mount, data_volume, local_image, secret_password, service_container
from components.config import StackConfig
from components.spec import ServiceConfig, ServiceSpec

ALIAS = "redis"
INTERNAL_PORT = 6379
CONFIG_FILE = "/etc/mlops-redis/redis.conf"
DATA_DIR = "/data"
AIRFLOW_USER = "mlops-airflow"
HEALTH_USER = "healthcheck"
# The health account has no password (any is taken) and may only ping.
HEALTH_CHECK = f"redis-cli --no-auth-warning --user {HEALTH_USER} --pass unused ping | grep -qx PONG"
SPEC = ServiceSpec(
    name="redis",
    image="redis:8.10.2",
    ports={"port": 6379},  # where the worker gateway publishes it, with workers on further hosts
    memory_mb=256,
    secrets=("redisAirflowPassword",),
    outputs=("redisAirflowUser", "redisAirflowPassword"),
    enabled_by_default=False,
)


def _quoted(text: str) -> str:
    """A redis.conf argument in double quotes (a password may hold quotes, `#` or backslashes)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def server_config(airflow_password: str, memory_mb: int) -> str:
    """redis.conf: accounts by ACL, data kept across restarts (queued tasks survive one), and a
    memory ceiling under the container's limit: a full queue refuses writes instead of being killed."""
    return "\n".join(
        [
            f"port {INTERNAL_PORT}",
            "bind * -::*",
            "protected-mode no",  # the stack network only; every account but the health check has a password
            f"dir {DATA_DIR}",
            "appendonly yes",
            f"maxmemory {max(16, memory_mb * 3 // 4)}mb",
            "maxmemory-policy noeviction",
            "user default off",
            f"user {AIRFLOW_USER} on {_quoted('>' + airflow_password)} ~* &* +@all -@admin -flushall -flushdb -swapdb",
            f"user {HEALTH_USER} on nopass -@all +ping",
            "",
        ]
    )


@dataclass
class RedisArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]


class Redis(pulumi.ComponentResource):
    alias: str
    airflow_user: str
    airflow_password: pulumi.Output[str]

    def __init__(self, name: str, args: RedisArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:redis:Redis", name, None, opts)
        stack, service = args.stack, args.service
        self.alias = ALIAS
        self.host_port = service.port
        self.airflow_user = AIRFLOW_USER
        self.airflow_password = secret_password(f"{name}-airflow-password", "redisAirflowPassword", stack, self)
        data = data_volume(f"{name}-data", stack, "redis-data", self)
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            command=["redis-server", CONFIG_FILE],
            mounts=[Mount(data.name, DATA_DIR)],
            uploads=[
                docker.ContainerUploadArgs(
                    file=CONFIG_FILE,
                    content=pulumi.Output.secret(
                        self.airflow_password.apply(lambda password: server_config(password, service.memory_mb))
                    ),
                )
            ],
            health=[HEALTH_CHECK],
            start_period=10,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"airflowUser": self.airflow_user, "airflowPassword": self.airflow_password})

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {"redisAirflowUser": self.airflow_user, "redisAirflowPassword": self.airflow_password}

    def broker_url(self, address: str | None = None) -> pulumi.Output[str]:
        """Celery's broker URL for Airflow's account (a secret: it holds the password): on the stack
        network, or at `address` (the worker address) and the published port."""
        host, port = (ALIAS, INTERNAL_PORT) if address is None else (address, self.host_port)
        return pulumi.Output.secret(self.airflow_password.apply(lambda password: broker_url(password, host, port)))


def broker_url(password: str, host: str = ALIAS, port: int = INTERNAL_PORT) -> str:
    """Airflow's account on the broker, as Celery (kombu) reads a URL: the password percent-encoded."""
    return f"redis://{quote(AIRFLOW_USER)}:{quote(password, safe='')}@{host}:{port}/0"
