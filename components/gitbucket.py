"""GitBucket: the stack's git server, on MySQL rather than its embedded H2."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.base import (
    Mount,
    Published,
    client_command,
    data_volume,
    local_image,
    secret_password,
    service_container,
)
from components.config import ServiceConfig, StackConfig
from components.mysql import MySQL, ServiceDatabase

ALIAS = "gitbucket"
INTERNAL_PORT = 8080
ADMIN_USER = "root"


@dataclass
class GitBucketArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]
    mysql: MySQL
    database: ServiceDatabase


class GitBucket(pulumi.ComponentResource):
    alias: str
    internal_url: str
    host_url: str
    admin_user: str
    admin_password: pulumi.Output[str]

    def __init__(self, name: str, args: GitBucketArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:gitbucket:GitBucket", name, None, opts)
        stack, service, db = args.stack, args.service, args.database
        self.alias = ALIAS
        self.internal_url = f"http://{ALIAS}:{INTERNAL_PORT}"
        self.host_url = f"http://{stack.host_address}:{service.port}"
        self.admin_user = ADMIN_USER
        self.admin_password = secret_password(f"{name}-root-password", "gitbucketRootPassword", stack, self)
        volume = data_volume(f"{name}-data", stack, "gitbucket-data", self)
        jdbc_url = (
            f"jdbc:mysql://{args.mysql.internal_host}:{args.mysql.internal_port}/{db.database}"
            "?allowPublicKeyRetrieval=true&useSSL=false"
        )
        self.container = service_container(
            f"{name}-server",
            stack=stack,
            service=service,
            image=local_image(f"{name}-image", service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=[
                "GITBUCKET_HOME=/gitbucket",
                f"GITBUCKET_DB_URL={jdbc_url}",
                f"GITBUCKET_DB_USER={db.user}",
                pulumi.Output.concat("GITBUCKET_DB_PASSWORD=", db.password),
            ],
            mounts=[Mount(volume.name, "/gitbucket")],
            published=[Published(INTERNAL_PORT, service.port)],
            health=[f"curl -fsS http://localhost:{INTERNAL_PORT}/api/v3 >/dev/null"],
            start_period="120s",
            wait_timeout=600,  # the first start against an empty database runs every migration
            opts=pulumi.ResourceOptions(parent=self, depends_on=[db.ready]),
        )
        # root/root is GitBucket's well-known default: replaced as soon as the schema exists.
        self.admin_ready = client_command(
            f"{name}-root-password-set",
            client="gitbucket",
            action="set-root-password",
            environment={
                "MYSQL_HOST": stack.host_address,
                "MYSQL_PORT": str(args.mysql.host_port),
                "DB_NAME": db.database,
                "DB_USER": db.user,
                "DB_PASSWORD": db.password,
                "GITBUCKET_ROOT_PASSWORD": self.admin_password,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        self.register_outputs(
            {
                "internalUrl": self.internal_url,
                "hostUrl": self.host_url,
                "adminUser": self.admin_user,
                "adminPassword": self.admin_password,
            }
        )
