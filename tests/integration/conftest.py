"""Session-wide real services: a MySQL-compatible server and an S3 server."""

from __future__ import annotations

from collections.abc import Iterator

import pymysql
import pytest
import requests

from tests.support.containers import (
    MySQLServer,
    S3Server,
    docker_client,
    host_port,
    new_password,
    require_image,
    running,
    wait_until,
)


@pytest.fixture(scope="session")
def mysql_server() -> Iterator[MySQLServer]:
    client = docker_client()
    image = require_image(client, "mysql")
    password = new_password()
    with running(
        client, image, environment={"MYSQL_ROOT_PASSWORD": password}, ports={"3306/tcp": ("127.0.0.1", None)}
    ) as container:
        port = host_port(container, "3306/tcp")
        wait_until(
            lambda: bool(
                pymysql.connect(host="127.0.0.1", port=port, user="root", password=password, connect_timeout=2)
            ),
            120,
            "MySQL",
        )
        yield MySQLServer("127.0.0.1", port, password)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    client = docker_client()
    image = require_image(client, "minio")
    user, password = "mlops-test-admin", new_password()
    with running(
        client,
        image,
        command=["server", "/data"],
        environment={"MINIO_ROOT_USER": user, "MINIO_ROOT_PASSWORD": password},
        ports={"9000/tcp": ("127.0.0.1", None)},
    ) as container:
        endpoint = f"http://127.0.0.1:{host_port(container, '9000/tcp')}"
        wait_until(lambda: requests.get(f"{endpoint}/minio/health/ready", timeout=2).ok, 60, "MinIO")
        yield S3Server(endpoint, user, password)
