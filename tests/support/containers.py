"""Real services for integration tests, as containers of the locally built images.

Ports are published on 127.0.0.1 only (tests reach nothing else); every
container is removed with its anonymous volumes when its fixture ends.
Outside CI a missing engine or image skips the test with the reason; in CI
(CI=true) it fails, since .ci/run builds everything first.
"""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import pytest
from docker.models.containers import Container

T = TypeVar("T")

IMAGES = {
    "mysql": os.environ.get("MLOPS_TEST_MYSQL_IMAGE", "mlops-local/mysql:9.7"),
    "minio": os.environ.get("MLOPS_TEST_MINIO_IMAGE", "mlops-local/minio:RELEASE.2025-09-07T16-13-09Z"),
    "airflow": os.environ.get("MLOPS_TEST_AIRFLOW_IMAGE", "mlops-local/airflow:3.3.2"),
    "registry": os.environ.get("MLOPS_TEST_REGISTRY_IMAGE", "mlops-local/registry:2"),
    "gitbucket": os.environ.get("MLOPS_TEST_GITBUCKET_IMAGE", "mlops-local/gitbucket-fake:test"),
    "phpmyadmin": os.environ.get("MLOPS_TEST_PHPMYADMIN_IMAGE", "mlops-local/phpmyadmin:5.2"),
    "mlflow": os.environ.get("MLOPS_TEST_MLFLOW_IMAGE", "mlops-local/mlflow:3.17.2"),
    "prometheus": os.environ.get("MLOPS_TEST_PROMETHEUS_IMAGE", "mlops-local/prometheus:2.42"),
    "statsd-exporter": os.environ.get("MLOPS_TEST_STATSD_EXPORTER_IMAGE", "mlops-local/statsd-exporter:0.31.0"),
    "redis": os.environ.get("MLOPS_TEST_REDIS_IMAGE", "mlops-local/redis:7.0"),
    "haproxy": os.environ.get("MLOPS_TEST_HAPROXY_IMAGE", "mlops-local/haproxy:2.6"),
    "debian": os.environ.get("MLOPS_TEST_DEBIAN_IMAGE", "mlops-local/debian:bookworm"),
}


def unavailable(reason: str) -> None:
    """Skip outside CI; fail in CI, where everything must have been built."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI must provide this: {reason}")
    pytest.skip(reason)


def docker_client() -> docker.DockerClient:
    client = docker.from_env()
    try:
        client.ping()
    except docker.errors.DockerException as error:
        unavailable(f"no Docker engine answers ({error}); run scripts/docker-engine.sh")
    return client


def require_image(client: docker.DockerClient, service: str) -> str:
    image = IMAGES[service]
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        unavailable(f"image {image} is missing; run offline/build-images.sh")
    return image


def wait_until(
    check: Callable[[], T | None],
    timeout: float,
    what: str,
    interval: float = 0.5,
    tolerate: tuple[type[BaseException], ...] = (Exception,),
) -> T:
    """The first truthy answer of `check`; errors in `tolerate` count as "not yet"
    (a service still starting), any other error fails at once."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except tolerate:
            pass
        time.sleep(interval)
    raise TimeoutError(f"{what} not ready after {timeout:.0f}s")


def host_port(container: Container, internal: str) -> int:
    container.reload()
    return int(container.ports[internal][0]["HostPort"])


@contextmanager
def running(client: docker.DockerClient, image: str, name: str = "", **kwargs: Any) -> Iterator[Container]:
    """A container of the test's own (named mlops-test-..., unless `name` says another)."""
    name = name or f"mlops-test-{uuid.uuid4().hex[:10]}"
    container = client.containers.run(image, name=name, detach=True, labels={"mlops.test": "true"}, **kwargs)
    try:
        yield container
    finally:
        container.remove(force=True, v=True)


@contextmanager
def network(client: docker.DockerClient) -> Iterator[str]:
    """A bridge network of the caller's own: containers on it reach each other by
    container name. Removed at the end, so the containers on it must be gone by
    then (nest their `running` inside)."""
    created = client.networks.create(
        f"mlops-test-net-{uuid.uuid4().hex[:10]}", driver="bridge", labels={"mlops.test": "true"}
    )
    try:
        yield str(created.name)
    finally:
        created.remove()


@dataclass(frozen=True)
class MySQLServer:
    host: str
    port: int
    root_password: str


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    root_user: str
    root_password: str


def new_password() -> str:
    return secrets.token_urlsafe(18)


def file_archive(path: str, content: str) -> bytes:
    """A tar of one file (mode 0644) for `put_archive`: `path` relative to where it is unpacked."""
    data = content.encode()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        info = tarfile.TarInfo(path.lstrip("/"))
        info.size, info.mode = len(data), 0o644
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()
