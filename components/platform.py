"""The platform as an explicit object graph: which services run and what each is given.

The core services, which others need, are built in `deploy` from typed args:
an optional service is `X | None`, and whatever a service needs from another
comes through its args. A service nothing else needs (a leaf, e.g. phpMyAdmin)
registers with one line in `LEAVES`: its declaration and its `deploy`, which
takes the typed core platform and the leaves registered before it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import pulumi
import pulumi_docker as docker

from components import (
    airflow,
    gitbucket,
    grafana,
    jenkins,
    minio,
    mlflow,
    model_api,
    mysql,
    phpmyadmin,
    prometheus,
    redis,
    registry,
)
from components.airflow import Airflow, AirflowArgs
from components.config import StackConfig
from components.gitbucket import GitBucket, GitBucketArgs, GitRepository
from components.jenkins import Jenkins, JenkinsArgs
from components.minio import Minio, MinioArgs, S3ServiceUser
from components.mlflow import MLflow, MLflowArgs
from components.mysql import MySQL, MySQLArgs
from components.network import StackNetwork, StackNetworkArgs
from components.redis import Redis, RedisArgs
from components.registry import ExternalRegistry, ImageRegistry, Registry, RegistryArgs
from components.spec import ServiceSpec, needed


class Exports(Protocol):
    def outputs(self) -> Mapping[str, pulumi.Input[Any]]: ...


@dataclass(frozen=True)
class Leaf:
    """A service nothing else needs: its declaration and how it is built from the core platform."""

    spec: ServiceSpec
    deploy: Callable[[StackConfig, Platform, pulumi.ResourceOptions], Exports]


LEAVES: tuple[Leaf, ...] = (
    Leaf(phpmyadmin.SPEC, phpmyadmin.deploy),
    Leaf(model_api.SPEC, model_api.deploy),
    Leaf(prometheus.SPEC, prometheus.deploy),  # after what it scrapes: it sees the leaves built before it
    Leaf(grafana.SPEC, grafana.deploy),
)

SERVICES: tuple[ServiceSpec, ...] = (
    mysql.SPEC,
    minio.SPEC,
    mlflow.SPEC,
    registry.SPEC,
    gitbucket.SPEC,
    jenkins.SPEC,
    redis.SPEC,
    airflow.SPEC,
    *(leaf.spec for leaf in LEAVES),
)


@dataclass(frozen=True)
class Platform:
    network: StackNetwork
    mysql: MySQL | None
    minio: Minio | None
    dvc_user: S3ServiceUser | None
    mlflow: MLflow | None
    registry: ImageRegistry | None
    gitbucket: GitBucket | None
    app_repo: GitRepository | None
    dags_repo: GitRepository | None
    training_repo: GitRepository | None
    jenkins: Jenkins | None
    redis: Redis | None
    airflow: Airflow | None
    # Services nothing else needs: only their outputs matter here.
    leaves: tuple[Exports, ...] = ()

    def outputs(self) -> Mapping[str, pulumi.Input[Any]]:
        """The stack outputs: where to log in, and with what (passwords as secrets)."""
        merged: dict[str, pulumi.Input[Any]] = {"network": self.network.name}
        services = (
            self.mysql,
            self.minio,
            self.mlflow,
            self.registry,
            self.gitbucket,
            self.jenkins,
            self.redis,
            self.airflow,
        )
        for service in services:
            if service is not None:
                merged.update(service.outputs())
        for leaf in self.leaves:
            merged.update(leaf.outputs())
        if self.dvc_user is not None:
            merged.update({"dvcAccessKey": self.dvc_user.access_key, "dvcSecretKey": self.dvc_user.secret_key})
        for seeded, repo in zip(
            gitbucket.SEEDED_REPOS, (self.app_repo, self.dags_repo, self.training_repo), strict=True
        ):
            if repo is not None:
                merged[seeded.output] = repo.host_clone_url
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

    tracking = None
    if stack.enabled("mlflow"):
        server, store = needed(db_server, "mlflow", "mysql"), needed(object_store, "mlflow", "minio")
        tracking = MLflow(
            "mlflow",
            MLflowArgs(
                *args_of("mlflow"),
                mysql=server,
                database=server.database("mlflow"),
                minio=store,
                s3_user=store.service_user("mlflow", [mlflow.BUCKET]),
            ),
            opts,
        )

    image_registry: ImageRegistry | None = None
    if stack.enabled("registry"):
        image_registry = Registry("registry", RegistryArgs(*args_of("registry")), opts)
    elif stack.external_registry is not None:
        image_registry = ExternalRegistry.from_config(stack.external_registry)

    git_server, app_repo, dags_repo, training_repo = None, None, None, None
    if stack.enabled("gitbucket"):
        server = needed(db_server, "gitbucket", "mysql")
        git_server = GitBucket(
            "gitbucket", GitBucketArgs(*args_of("gitbucket"), mysql=server, database=server.database("gitbucket")), opts
        )
        app_repo = git_server.repository(gitbucket.APP_REPO)
        dags_repo = git_server.repository(gitbucket.DAGS_REPO)
        if tracking is not None:
            training_repo = git_server.repository(gitbucket.TRAINING_REPO)

    ci = None
    if stack.enabled("jenkins"):
        ci = Jenkins(
            "jenkins",
            JenkinsArgs(
                *args_of("jenkins"),
                gitbucket=needed(git_server, "jenkins", "gitbucket"),
                pipeline_repo=needed(app_repo, "jenkins", "gitbucket"),
                registry=needed(image_registry, "jenkins", "a registry"),
                training_repo=training_repo,
            ),
            opts,
        )

    broker = Redis("redis", RedisArgs(*args_of("redis")), opts) if stack.enabled("redis") else None

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
                mlflow=tracking,
                training_repo=training_repo,
                redis=broker,
            ),
            opts,
        )

    core = Platform(
        network=network,
        mysql=db_server,
        minio=object_store,
        dvc_user=dvc_user,
        mlflow=tracking,
        registry=image_registry,
        gitbucket=git_server,
        app_repo=app_repo,
        dags_repo=dags_repo,
        training_repo=training_repo,
        jenkins=ci,
        redis=broker,
        airflow=scheduler,
    )
    for leaf in LEAVES:
        if stack.enabled(leaf.spec.name):
            core = dataclasses.replace(core, leaves=(*core.leaves, leaf.deploy(stack, core, opts)))
    return core
