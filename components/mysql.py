"""MySQL: the database server of GitBucket, Airflow and MLflow; with Prometheus, its exporter."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_docker as docker

from components.base import (
    EXPORTER_MEMORY_MB,
    Mount,
    Published,
    client_command,
    data_volume,
    generated_secret,
    image_problem,
    local_image,
    secret_password,
    service_container,
)
from components.config import StackConfig
from components.spec import ScrapeJob, ServiceConfig, ServiceSpec, Setting
from mlops_clients.contracts import MYSQL as MYSQL_CLIENT
from mlops_clients.contracts import MySQLAction, MySQLEnv

ALIAS = "mysql"
INTERNAL_PORT = 3306
EXPORTER_ALIAS = "mysql-exporter"
EXPORTER_PORT = 9104
EXPORTER_CONFIG = "/etc/mysqld-exporter/my.cnf"
MONITOR_USER = "mlops_monitor"
JOB = "mysql"  # its Prometheus job
SPEC = ServiceSpec(
    name="mysql",
    image="mysql:8.4.11",
    ports={"port": 3306},
    memory_mb=1024,
    secrets=("mysqlRootPassword",),
    outputs=("mysqlHost", "mysqlRootPassword"),
    settings={
        # With Prometheus: mysqld_exporter, as its own account (status grants only).
        "exporterImage": Setting("prom/mysqld-exporter:v0.17.2", image_problem),
    },
)


def exporter_config(password: str) -> str:
    """The exporter's login (its --config.my-cnf): in a file, never on its command line."""
    return f"[client]\nuser={MONITOR_USER}\npassword={password}\nhost={ALIAS}\nport={INTERNAL_PORT}\n"


ROOT_PASSWORD_FILE = "/etc/mysql/mlops/root-password.sql"  # noqa: S105 (a path, not a secret)


def root_password_sql(password: str) -> str:
    """Statements the server runs at every start (`--init-file`): root's password is the configured one.

    The image applies MYSQL_ROOT_PASSWORD only to an empty data directory, so
    without this a rotated secret (or a newly set `secretSeed`) leaves the server
    with the old password while everything else logs in with the new one. On the
    first start root@'%' does not exist yet while the image initialises the data
    directory: nothing is changed then. The password travels hex-encoded, so no
    character of it needs escaping; one statement per line, as `--init-file` reads.
    """
    literal = f"CONVERT(X'{password.encode().hex()}' USING utf8mb4)"
    statement = (
        "CONCAT('ALTER USER ''root''@''localhost'' IDENTIFIED BY ', QUOTE(@mlops_root_pw), "
        "', ''root''@''%'' IDENTIFIED BY ', QUOTE(@mlops_root_pw))"
    )
    return "\n".join(
        [
            f"SET @mlops_root_pw = {literal};",
            "SET @mlops_initialised = (SELECT COUNT(*) FROM mysql.user WHERE user = 'root' AND host = '%');",
            f"SET @mlops_sql = IF(@mlops_initialised > 0, {statement}, 'DO 0');",
            "PREPARE mlops_root_pw_stmt FROM @mlops_sql;",
            "EXECUTE mlops_root_pw_stmt;",
            "DEALLOCATE PREPARE mlops_root_pw_stmt;",
            "SET @mlops_root_pw = NULL, @mlops_sql = NULL;",
            "",
        ]
    )


@dataclass
class MySQLArgs:
    stack: StackConfig
    service: ServiceConfig
    network: pulumi.Input[str]


class MySQL(pulumi.ComponentResource):
    """The server, its data volume and a generated root password."""

    alias: str
    internal_host: str
    internal_port: int
    host_port: int
    root_user: str
    root_password: pulumi.Output[str]
    stack_config: StackConfig  # what databases made on this server are named and seeded from

    def __init__(self, name: str, args: MySQLArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:mysql:MySQL", name, None, opts)
        self._resource_name, self.stack_config = name, args.stack
        self.alias, self.internal_host, self.internal_port = ALIAS, ALIAS, INTERNAL_PORT
        self.host_port = args.service.port
        self.root_user = "root"
        self.root_password = secret_password(f"{name}-root-password", "mysqlRootPassword", args.stack, self)
        volume = data_volume(f"{name}-data", args.stack, "mysql-data", self)
        self.container = service_container(
            f"{name}-server",
            stack=args.stack,
            service=args.service,
            image=local_image(f"{name}-image", args.service.image, self),
            network=args.network,
            alias=ALIAS,
            envs=[pulumi.Output.concat("MYSQL_ROOT_PASSWORD=", self.root_password)],
            # MLflow's migrations create triggers as its own user: with binary logging on
            # (MySQL's default) that needs SUPER unless the server trusts function creators.
            command=["mysqld", f"--init-file={ROOT_PASSWORD_FILE}", "--log-bin-trust-function-creators=ON"],
            # Read by mysqld (user mysql) only; the container runs nothing else.
            uploads=[
                docker.ContainerUploadArgs(
                    file=ROOT_PASSWORD_FILE,
                    content=pulumi.Output.secret(self.root_password.apply(root_password_sql)),
                    permissions="0644",
                )
            ],
            mounts=[Mount(volume.name, "/var/lib/mysql")],
            published=[Published(INTERNAL_PORT, args.service.port)],
            # A real login over TCP: `mysqladmin ping` also succeeds on "access denied", e.g.
            # against the first-initialisation server, before the root password is set.
            health=['MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysql -h 127.0.0.1 -uroot -e "SELECT 1" >/dev/null'],
            start_period=60,
            wait_timeout=300,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.exporter = self._exporter(name, args) if args.stack.monitored else None
        self.register_outputs(
            {
                "alias": self.alias,
                "hostPort": self.host_port,
                "rootPassword": self.root_password,
            }
        )

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        return {
            "mysqlHost": f"{self.stack_config.host_address}:{self.host_port}",
            "mysqlRootPassword": self.root_password,
        }

    def _exporter(self, name: str, args: MySQLArgs) -> docker.Container:
        password = generated_secret(f"{name}-monitor-password", args.stack, self)
        account = client_command(
            f"{name}-monitor-account",
            client=MYSQL_CLIENT,
            action=MySQLAction.ENSURE_MONITOR,
            environment={
                MySQLEnv.HOST: args.stack.host_address,
                MySQLEnv.PORT: str(self.host_port),
                MySQLEnv.ROOT_PASSWORD: self.root_password,
                MySQLEnv.DB_USER: MONITOR_USER,
                MySQLEnv.DB_PASSWORD: password,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.container]),
        )
        return service_container(
            f"{name}-exporter",
            stack=args.stack,
            service=args.service,
            image=local_image(f"{name}-exporter-image", args.service.settings["exporterImage"], self),
            network=args.network,
            alias=EXPORTER_ALIAS,
            # MySQL 8.4 and 9 have no SHOW SLAVE STATUS; the stack runs no replica anyway.
            command=[f"--config.my-cnf={EXPORTER_CONFIG}", "--no-collect.slave_status"],
            uploads=[
                docker.ContainerUploadArgs(
                    file=EXPORTER_CONFIG, content=pulumi.Output.secret(password.apply(exporter_config))
                )
            ],
            health=[f"wget -qO- http://localhost:{EXPORTER_PORT}/ >/dev/null"],  # its page: no scrape of MySQL
            start_period=10,
            drop_capabilities=True,
            memory_mb=EXPORTER_MEMORY_MB,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account]),
        )

    def scrape_jobs(self) -> list[ScrapeJob]:
        return [ScrapeJob(JOB, (f"{EXPORTER_ALIAS}:{EXPORTER_PORT}",))] if self.exporter else []

    def database(self, service: str) -> ServiceDatabase:
        """A database and a user of its own, named after the service (least privilege)."""
        return ServiceDatabase(
            f"{self._resource_name}-db-{service}",
            ServiceDatabaseArgs(server=self, database=service, user=service),
            opts=pulumi.ResourceOptions(parent=self),
        )


@dataclass
class ServiceDatabaseArgs:
    server: MySQL
    database: str
    user: str


class ServiceDatabase(pulumi.ComponentResource):
    """Created idempotently once the server is healthy; its data lives in the server's volume."""

    database: str
    user: str
    password: pulumi.Output[str]
    ready: pulumi.Resource

    def __init__(self, name: str, args: ServiceDatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops:mysql:ServiceDatabase", name, None, opts)
        self.database, self.user = args.database, args.user
        self.password = generated_secret(f"{name}-password", args.server.stack_config, self)
        server = self._server = args.server
        self.ready = client_command(
            f"{name}-ensure",
            client=MYSQL_CLIENT,
            action=MySQLAction.ENSURE_DATABASE,
            environment={**self.client_env(), MySQLEnv.ROOT_PASSWORD: server.root_password},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[server.container]),
        )
        self.register_outputs({"database": self.database, "user": self.user})

    def client_env(self) -> dict[str, pulumi.Input[str]]:
        """How a client reaches this database from the host, as its own user."""
        return {
            MySQLEnv.HOST: self._server.stack_config.host_address,
            MySQLEnv.PORT: str(self._server.host_port),
            MySQLEnv.DB_NAME: self.database,
            MySQLEnv.DB_USER: self.user,
            MySQLEnv.DB_PASSWORD: self.password,
        }
