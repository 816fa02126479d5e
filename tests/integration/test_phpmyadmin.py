"""The phpMyAdmin stand-in (Debian's phpMyAdmin 5.2) against the MySQL stand-in, over real HTTP.

Both run on a network of the test's own; phpMyAdmin reaches MySQL by container
name (PMA_HOST / PMA_PORT) and is published on 127.0.0.1. It runs hardened the
way the stack may run it: read-only root fs with a tmpfs on /tmp (the only
writable place it needs), all capabilities dropped, no-new-privileges, as the
image's user (www-data).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import docker
import pymysql
import pytest
import requests
from docker.models.containers import Container

from mlops_clients import mysql
from tests.support.containers import (
    docker_client,
    host_port,
    network,
    new_password,
    require_image,
    running,
    wait_until,
)
from tests.support.phpmyadmin import TIMEOUT, errors, is_login_page, log_in, login_form

pytestmark = pytest.mark.integration

HARDENED: dict[str, Any] = {
    "read_only": True,
    "tmpfs": {"/tmp": ""},
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
}

# phpMyAdmin's configuration as PHP in the container computes it (`docker exec`
# gets the container's environment): server 1, and the secret's length only.
EFFECTIVE_CONFIG = r"""
$cfg = [];
require '/etc/phpmyadmin/config.inc.php';
echo json_encode([
    'server' => $cfg['Servers'][1],
    'servers' => count($cfg['Servers']),
    'zero_conf' => $cfg['ZeroConf'],
    'secret_bytes' => strlen($cfg['blowfish_secret'] ?? ''),
]);
"""


@dataclass(frozen=True)
class Setup:
    client: docker.DockerClient
    image: str
    network: str
    mysql_name: str
    database: str
    user: str
    password: str
    base_url: str
    container: Container


def start_phpmyadmin(
    client: docker.DockerClient, image: str, net: str, mysql_name: str, **options: Any
) -> AbstractContextManager[Container]:
    """The stand-in on the test's network, for the MySQL container of that name; published on 127.0.0.1."""
    return running(
        client,
        image,
        environment={"PMA_HOST": mysql_name, "PMA_PORT": "3306"},
        network=net,
        ports={"80/tcp": ("127.0.0.1", None)},
        **options,
    )


def serving(container: Container) -> str:
    """The published base URL once the login page is served."""
    base_url = f"http://127.0.0.1:{host_port(container, '80/tcp')}"

    def ready() -> bool:
        container.reload()
        if container.status == "exited":
            raise AssertionError(container.logs().decode("utf-8", "replace")[-3000:])
        return requests.get(base_url + "/", timeout=2).ok

    wait_until(ready, 60, "phpMyAdmin", tolerate=(requests.RequestException,))
    return base_url


@pytest.fixture(scope="module")
def setup() -> Iterator[Setup]:
    client = docker_client()
    mysql_image = require_image(client, "mysql")
    image = require_image(client, "phpmyadmin")
    root_password, password = new_password(), new_password()
    suffix = uuid.uuid4().hex[:8]
    database, user = f"pma_db_{suffix}", f"pma_user_{suffix}"
    with (
        network(client) as net,
        running(
            client,
            mysql_image,
            environment={"MYSQL_ROOT_PASSWORD": root_password},
            network=net,
            ports={"3306/tcp": ("127.0.0.1", None)},
        ) as db,
    ):
        port = host_port(db, "3306/tcp")
        wait_until(
            lambda: bool(
                pymysql.connect(host="127.0.0.1", port=port, user="root", password=root_password, connect_timeout=2)
            ),
            120,
            "MySQL",
        )
        with mysql.connect("127.0.0.1", port, "root", root_password) as conn, conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}`")
            cursor.execute("CREATE USER %s@'%%' IDENTIFIED BY %s", (user, password))
            cursor.execute(f"GRANT ALL ON `{database}`.* TO %s@'%%'", (user,))
        with start_phpmyadmin(client, image, net, str(db.name), **HARDENED) as container:
            yield Setup(client, image, net, str(db.name), database, user, password, serving(container), container)


def test_the_login_page_is_served_at_the_root(setup: Setup) -> None:
    answer = requests.get(setup.base_url + "/", timeout=TIMEOUT)
    assert answer.status_code == 200
    assert "phpMyAdmin" in answer.cookies  # the session cookie
    fields = login_form(answer.text)
    assert fields is not None and {"pma_username", "pma_password", "server", "token"} <= set(fields)
    # Debian's /phpmyadmin alias is switched off: one URL layout, as in the official image.
    assert requests.get(setup.base_url + "/phpmyadmin/", timeout=TIMEOUT).status_code == 404


def test_a_mysql_account_logs_in_and_sees_its_database(setup: Setup) -> None:
    login = log_in(setup.base_url, setup.user, setup.password)
    assert login.logged_in, errors(login.page) or login.page[-2000:]
    assert not errors(login.page)
    assert "configuration storage" not in login.get("/")  # deliberately off, no notice
    visible = login.databases()
    # Its own database, and only what MySQL grants it (not `mysql`).
    assert setup.database in visible and "mysql" not in visible, visible


def test_a_wrong_password_is_refused(setup: Setup) -> None:
    login = log_in(setup.base_url, setup.user, "not-" + setup.password)
    assert not login.logged_in
    shown = " ".join(errors(login.page))
    assert "Cannot log in to the MySQL server" in shown and "Access denied" in shown, shown
    assert is_login_page(login.session.get(setup.base_url + "/", timeout=TIMEOUT).text)


def test_an_empty_password_is_refused_by_phpmyadmin_itself(setup: Setup) -> None:
    login = log_in(setup.base_url, setup.user, "")
    assert not login.logged_in
    assert any("AllowNoPassword" in error for error in errors(login.page)), errors(login.page)


def test_the_effective_config_has_no_configuration_storage(setup: Setup) -> None:
    status, output = setup.container.exec_run(["php", "-r", EFFECTIVE_CONFIG])
    assert status == 0, output
    effective = json.loads(output)
    assert effective == {
        "server": {
            "host": setup.mysql_name,
            "port": "3306",
            "auth_type": "cookie",
            "AllowNoPassword": False,
            "compress": False,
            "controlhost": "",
            "controlport": "",
            "controluser": "",
            "controlpass": "",
            "pmadb": "",
        },
        "servers": 1,
        "zero_conf": False,
        "secret_bytes": 32,
    }
    # Debian's dbconfig-common include (with its controluser) and postinst secret are not in the image.
    status, output = setup.container.exec_run(
        ["sh", "-c", "ls /etc/phpmyadmin/config-db.php /var/lib/phpmyadmin/blowfish_secret.inc.php 2>&1"]
    )
    assert status != 0 and output.decode().count("No such file") == 2, output


def test_the_secret_is_made_at_start_not_baked_into_the_image(setup: Setup) -> None:
    status, secret = setup.container.exec_run(["cat", "/tmp/phpmyadmin/config.secret.inc.php"])
    assert status == 0 and b"blowfish_secret" in secret
    with running(
        setup.client,
        setup.image,
        command=["sh", "-c", 'grep -rls blowfish_secret /etc /var/lib/phpmyadmin /tmp; echo "tmp:$(ls -A /tmp)"'],
    ) as bare:
        assert bare.wait(timeout=60)["StatusCode"] == 0
        found = bare.logs().decode().split()
    # Before start no file sets a secret (Debian's postinst one is gone) and /tmp is empty.
    assert found == ["tmp:"]
    with start_phpmyadmin(setup.client, setup.image, setup.network, setup.mysql_name, **HARDENED) as other:
        serving(other)
        status, other_secret = other.exec_run(["cat", "/tmp/phpmyadmin/config.secret.inc.php"])
    assert status == 0 and other_secret != secret


def test_the_health_check_command_works_inside(setup: Setup) -> None:
    status, output = setup.container.exec_run(["curl", "-fsS", "http://localhost/"])
    assert status == 0 and b'id="login_form"' in output


@pytest.mark.parametrize(
    "options",
    [pytest.param({}, id="plain"), pytest.param({"user": "root"}, id="as-root")],
)
def test_it_also_runs_without_hardening(setup: Setup, options: dict[str, Any]) -> None:
    with start_phpmyadmin(setup.client, setup.image, setup.network, setup.mysql_name, **options) as container:
        login = log_in(serving(container), setup.user, setup.password)
        assert login.logged_in, errors(login.page)


def test_configuration_storage_settings_are_refused_at_start(setup: Setup) -> None:
    with running(
        setup.client, setup.image, environment={"PMA_HOST": setup.mysql_name, "PMA_CONTROLUSER": "pma"}
    ) as container:
        assert container.wait(timeout=60)["StatusCode"] != 0
        logs = container.logs().decode()
    assert "PMA_CONTROLUSER is not supported" in logs
