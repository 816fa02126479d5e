"""phpMyAdmin: a web UI on the stack's MySQL, off by default.

Users log in with their own MySQL accounts (cookie auth). The container holds
no password at all: no root password, and no configuration storage whose
control user would need one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi

from components import mysql
from components.base import Published, local_image, service_container
from components.config import StackConfig
from components.mysql import MySQL
from components.spec import ServiceConfig, ServiceSpec, needed

if TYPE_CHECKING:
    from components.platform import Platform

ALIAS = "phpmyadmin"
INTERNAL_PORT = 80

SPEC = ServiceSpec(
    name="phpmyadmin",
    image="phpmyadmin:5.2.3",
    ports={"port": 8081},
    memory_mb=256,
    needs=(mysql.SPEC,),
    outputs=("phpmyadminUrl",),
    enabled_by_default=False,
)


@dataclass
class PhpMyAdminArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    mysql: MySQL


class PhpMyAdmin(pulumi.ComponentResource):
    host_url: str

    def __init__(self, name: str, args: PhpMyAdminArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:phpmyadmin:PhpMyAdmin", name, None, opts)
        stack, service = args.stack, args.service
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            # The one server it shows; logins are the users' own MySQL accounts.
            envs=[f"PMA_HOST={args.mysql.internal_host}", f"PMA_PORT={args.mysql.internal_port}"],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"curl -fsS -o /dev/null http://localhost:{INTERNAL_PORT}/"],
            start_period=10,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"hostUrl": self.host_url})

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {"phpmyadminUrl": self.host_url}


def deploy(stack: StackConfig, platform: Platform, opts: pulumi.ResourceOptions) -> PhpMyAdmin:
    """Built from the core platform when `phpmyadmin.enabled` (components/platform.py `LEAVES`)."""
    server = needed(platform.mysql, "phpmyadmin", "mysql")
    return PhpMyAdmin(
        "phpmyadmin", PhpMyAdminArgs(stack, stack.services[SPEC.name], platform.network.name, server), opts
    )
