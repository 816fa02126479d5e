"""Rotating MySQL's root password on a server that already has data (the image applies
MYSQL_ROOT_PASSWORD only to an empty data directory): the component's `--init-file`
statements, run by the real server at start, as the component runs it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from functools import partial

import pymysql
import pytest

from components.mysql import ROOT_PASSWORD_FILE, root_password_sql
from tests.support.containers import (
    docker_client,
    file_archive,
    host_port,
    new_password,
    require_image,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration


def init_file_tar(password: str) -> bytes:
    return file_archive(ROOT_PASSWORD_FILE, root_password_sql(password))


def login(port: int, password: str) -> pymysql.connections.Connection:
    return pymysql.connect(host="127.0.0.1", port=port, user="root", password=password, connect_timeout=3)


@pytest.fixture
def data_volume() -> Iterator[str]:
    client = docker_client()
    volume = client.volumes.create(f"mlops-test-{uuid.uuid4().hex[:10]}", labels={"mlops.test": "true"})
    yield str(volume.name)
    volume.remove(force=True)


def start_and_login(volume: str, password: str, check: object) -> None:
    """Start the server on `volume` as the component does, then run `check(port)` while it runs."""
    client = docker_client()
    image = require_image(client, "mysql")
    container = client.containers.create(
        image,
        name=f"mlops-test-{uuid.uuid4().hex[:10]}",
        command=["mysqld", f"--init-file={ROOT_PASSWORD_FILE}"],
        environment={"MYSQL_ROOT_PASSWORD": password},
        volumes={volume: {"bind": "/var/lib/mysql", "mode": "rw"}},
        ports={"3306/tcp": ("127.0.0.1", None)},
        labels={"mlops.test": "true"},
    )
    try:
        container.put_archive("/", init_file_tar(password))
        container.start()
        port = host_port(container, "3306/tcp")
        wait_until(lambda: login(port, password), 120, "MySQL with the configured root password")
        assert callable(check)
        check(port)
    finally:
        container.remove(force=True, v=False)


@pytest.mark.parametrize("new", ["rotated-" + "x" * 24, 'quote\' back\\slash "dq" $(x) `y` %s ;'])
def test_a_rotated_root_password_takes_effect_and_the_data_stays(data_volume: str, new: str) -> None:
    old = new_password()

    def write(port: int) -> None:
        with login(port, old).cursor() as cursor:
            cursor.execute("CREATE DATABASE kept")
            cursor.execute("CREATE TABLE kept.t (v VARCHAR(20))")
            cursor.execute("INSERT INTO kept.t VALUES ('survives')")
            cursor.execute("COMMIT")

    def read(port: int) -> None:
        with login(port, new).cursor() as cursor:
            cursor.execute("SELECT v FROM kept.t")
            assert cursor.fetchall() == (("survives",),)
        with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
            login(port, old)

    start_and_login(data_volume, old, write)
    start_and_login(data_volume, new, read)


def test_the_first_start_initialises_with_the_init_file_in_place(data_volume: str) -> None:
    """On an empty data directory root@'%' does not exist yet: the statements change nothing
    and the image's own initialisation sets the password."""
    password = new_password()
    start_and_login(data_volume, password, lambda port: None)


def test_running_mysql_without_the_init_file_keeps_the_old_password(data_volume: str) -> None:
    """What the component guards against: the image alone ignores a new MYSQL_ROOT_PASSWORD."""
    client = docker_client()
    image = require_image(client, "mysql")
    old, new = new_password(), new_password()
    for password in (old, new):
        with running(
            client,
            image,
            environment={"MYSQL_ROOT_PASSWORD": password},
            volumes={data_volume: {"bind": "/var/lib/mysql", "mode": "rw"}},
            ports={"3306/tcp": ("127.0.0.1", None)},
        ) as container:
            port = host_port(container, "3306/tcp")
            first_login: Callable[[], object] = partial(login, port, old)
            wait_until(first_login, 120, "MySQL with the first root password")
            if password == new:
                with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
                    login(port, new)
