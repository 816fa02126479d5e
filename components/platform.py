"""The platform as an explicit object graph: which services run and what each is given.

A service registers here with one line in `SERVICES` (its declaration, for
config validation) and is built in `deploy` from typed args: an optional
service is `X | None`, and whatever a service needs from another comes
through its args.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import pulumi
import pulumi_docker as docker

from components import airflow, gitbucket, jenkins, minio, mysql, phpmyadmin, registry
from components.airflow import Airflow, AirflowArgs
from components.config import StackConfig
from components.gitbucket import GitBucket, GitBucketArgs, GitRepository
from components.jenkins import Jenkins, JenkinsArgs
from components.minio import Minio, MinioArgs, S3ServiceUser
from components.mysql import MySQL, MySQLArgs
from components.network import StackNetwork, StackNetworkArgs
from components.phpmyadmin import PhpMyAdmin, PhpMyAdminArgs
from components.registry import ExternalRegistry, ImageRegistry, Registry, RegistryArgs
from components.spec import ServiceSpec

SERVICES: tuple[ServiceSpec, ...] = (
    mysql.SPEC,
    minio.SPEC,
    registry.SPEC,
    gitbucket.SPEC,
    jenkins.SPEC,
    airflow.SPEC,
    phpmyadmin.SPEC,
)

T = TypeVar("T")


class Exports(Protocol):
    def outputs(self) -> Mapping[str, pulumi.Input[Any]]: ...


def needed(service: T | None, by: str, what: str) -> T:
    """A dependency config validation guarantees (components/spec.py `needs`)."""
    if service is None:
        raise AssertionError(f"{by} needs {what}, which config validation should have required")
    return service


@dataclass(frozen=True)
class Platform:
    network: StackNetwork
    mysql: MySQL | None
    minio: Minio | None
    dvc_user: S3ServiceUser | None
    registry: ImageRegistry | None
    gitbucket: GitBucket | None
    app_repo: GitRepository | None
    dags_repo: GitRepository | None
    jenkins: Jenkins | None
    airflow: Airflow | None
    # Services nothing else needs: only their outputs matter here.
    leaves: tuple[Exports, ...] = ()

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        """The stack outputs: where to log in, and with what (passwords as secrets)."""
        merged: dict[str, pulumi.Input[Any]] = {"network": self.network.name}
        for service in (self.mysql, self.minio, self.registry, self.gitbucket, self.jenkins, self.airflow):
            if service is not None:
                merged.update(service.outputs())
        for leaf in self.leaves:
            merged.update(leaf.outputs())
        if self.dvc_user is not None:
            merged.update({"dvcAccessKey": self.dvc_user.access_key, "dvcSecretKey": self.dvc_user.secret_key})
        if self.app_repo is not None:
            merged["appRepoCloneUrl"] = self.app_repo.host_clone_url
        if self.dags_repo is not None:
            merged["dagsRepoCloneUrl"] = self.dags_repo.host_clone_url
        return merged


def deploy(stack: StackConfig) -> Platform:
    services = stack.services
    provider = docker.Provider("docker", host=stack.docker_host)
    opts = pulumi.ResourceOptions(providers={"docker": provider})
    network = StackNetwork("network", StackNetworkArgs(stack=stack), opts)
    if not stack.is_loopback:
        exposed = ", ".join(
            f"{name} ({', '.join(map(str, s.ports.values()))})" for name, s in services.items() if s.enabled
        )
        pulumi.log.warn(
            f"bindAddress {stack.bind_address} is not loopback: every host that reaches it reaches {exposed}"
        )

    def args_of(name: str) -> tuple[StackConfig, Any, pulumi.Output[str]]:
        return stack, services[name], network.name

    db_server = MySQL("mysql", MySQLArgs(*args_of("mysql")), opts) if stack.enabled("mysql") else None

    object_store = Minio("minio", MinioArgs(*args_of("minio")), opts) if stack.enabled("minio") else None
    dvc_user = object_store.service_user("dvc", ["de-datapreprocessing"]) if object_store else None

    image_registry: ImageRegistry | None = None
    if stack.enabled("registry"):
        image_registry = Registry("registry", RegistryArgs(*args_of("registry")), opts)
    elif stack.external_registry is not None:
        image_registry = ExternalRegistry.from_config(stack.external_registry)

    git_server, app_repo, dags_repo = None, None, None
    if stack.enabled("gitbucket"):
        server = needed(db_server, "gitbucket", "mysql")
        git_server = GitBucket(
            "gitbucket", GitBucketArgs(*args_of("gitbucket"), mysql=server, database=server.database("gitbucket")), opts
        )
        app_repo = git_server.repository(
            "de_datapreprocessing", "gitbucket_repos/de_datapreprocessing", "Data preprocessing job (DVC on MinIO)"
        )
        dags_repo = git_server.repository("myairflow_dags", "dags", "Airflow DAGs, read by Airflow's git DAG bundle")

    ci = None
    if stack.enabled("jenkins"):
        ci = Jenkins(
            "jenkins",
            JenkinsArgs(
                *args_of("jenkins"),
                gitbucket=needed(git_server, "jenkins", "gitbucket"),
                pipeline_repo=needed(app_repo, "jenkins", "gitbucket"),
                registry=needed(image_registry, "jenkins", "a registry"),
            ),
            opts,
        )

    scheduler = None
    if stack.enabled("airflow"):
        server = needed(db_server, "airflow", "mysql")
        scheduler = Airflow(
            "airflow",
            AirflowArgs(
                *args_of("airflow"),
                mysql=server,
                database=server.database("airflow"),
                gitbucket=git_server,
                dags_repo=dags_repo,
                pipeline_repo=app_repo,
                minio=object_store,
                dvc_user=dvc_user,
                registry=image_registry,
            ),
            opts,
        )

    leaves: list[Exports] = []
    if stack.enabled("phpmyadmin"):
        leaves.append(
            PhpMyAdmin(
                "phpmyadmin",
                PhpMyAdminArgs(*args_of("phpmyadmin"), mysql=needed(db_server, "phpmyadmin", "mysql")),
                opts,
            )
        )

    return Platform(
        network=network,
        mysql=db_server,
        minio=object_store,
        dvc_user=dvc_user,
        registry=image_registry,
        gitbucket=git_server,
        app_repo=app_repo,
        dags_repo=dags_repo,
        jenkins=ci,
        airflow=scheduler,
        leaves=tuple(leaves),
    )
