"""The MySQL client against a real MySQL server (9.7, built locally from Debian sid)."""

from __future__ import annotations

import subprocess
import sys
import time
import uuid

import pymysql
import pytest

from mlops_clients import gitbucket, mysql
from mlops_clients.common import InputError, ServiceError
from tests.support.containers import MySQLServer, new_password

pytestmark = pytest.mark.integration


def root(server: MySQLServer) -> pymysql.connections.Connection:
    return mysql.connect(server.host, server.port, "root", server.root_password)


def test_ensure_database_creates_a_user_limited_to_its_database(mysql_server: MySQLServer) -> None:
    name, password = f"svc_{uuid.uuid4().hex[:8]}", new_password()
    with root(mysql_server) as conn:
        assert mysql.ensure_database(conn, name, name, password) == {"database": name, "user": name}
        with conn.cursor() as cursor:
            cursor.execute(
                "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA "
                "WHERE SCHEMA_NAME = %s",
                (name,),
            )
            assert cursor.fetchone() == ("utf8mb4", "utf8mb4_unicode_ci")
    with (
        mysql.connect(mysql_server.host, mysql_server.port, name, password, database=name) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute("CREATE TABLE t (id INT)")
        cursor.execute("SHOW DATABASES")
        visible = {row[0] for row in cursor.fetchall()}
    assert name in visible and "mysql" not in visible


def test_the_monitor_account_reads_server_status_and_no_rows(mysql_server: MySQLServer) -> None:
    user, data = f"mon_{uuid.uuid4().hex[:8]}", f"svc_{uuid.uuid4().hex[:8]}"
    with root(mysql_server) as conn:
        mysql.ensure_database(conn, data, data, new_password())
        mysql.ensure_monitor(conn, user, new_password())
        password = new_password()
        assert mysql.ensure_monitor(conn, user, password) == {"user": user}  # again: a rotated password
        with conn.cursor() as cursor:
            cursor.execute("SELECT max_user_connections FROM mysql.user WHERE user = %s", (user,))
            assert cursor.fetchone() == (mysql.MONITOR_CONNECTIONS,)
    with mysql.connect(mysql_server.host, mysql_server.port, user, password) as conn, conn.cursor() as cursor:
        cursor.execute("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        assert cursor.fetchone()
        cursor.execute("SHOW GLOBAL VARIABLES LIKE 'max_connections'")
        assert cursor.fetchone()
        cursor.execute("SHOW DATABASES")
        assert data not in {row[0] for row in cursor.fetchall()}
        for private in ("mysql.user", "performance_schema.events_statements_history"):
            with pytest.raises(pymysql.err.OperationalError, match="denied"):
                cursor.execute(f"SELECT * FROM {private}")  # noqa: S608 (fixed names)


def test_ensure_database_twice_changes_nothing_but_applies_a_new_password(mysql_server: MySQLServer) -> None:
    name, first, second = f"svc_{uuid.uuid4().hex[:8]}", new_password(), new_password()
    with root(mysql_server) as conn:
        mysql.ensure_database(conn, name, name, first)
        with mysql.connect(mysql_server.host, mysql_server.port, name, first, database=name) as user_conn:
            user_conn.cursor().execute("CREATE TABLE kept (v INT)")
            user_conn.cursor().execute("INSERT INTO kept VALUES (42)")
        mysql.ensure_database(conn, name, name, first)
        mysql.ensure_database(conn, name, name, second)
    with pytest.raises(ServiceError, match="Access denied"):
        mysql.connect(mysql_server.host, mysql_server.port, name, first, database=name, wait_seconds=5)
    with (
        mysql.connect(mysql_server.host, mysql_server.port, name, second, database=name) as conn,
        conn.cursor() as cursor,
    ):
        cursor.execute("SELECT v FROM kept")
        assert cursor.fetchall() == ((42,),)


def test_a_wrong_root_password_is_refused_at_once(mysql_server: MySQLServer) -> None:
    with pytest.raises(ServiceError) as raised:
        mysql.connect(mysql_server.host, mysql_server.port, "root", "not-the-password", wait_seconds=60)
    assert raised.value.service == "mysql"
    assert "Access denied" in raised.value.answer


def test_nothing_listening_fails_with_a_named_error_after_the_wait() -> None:
    with pytest.raises(ServiceError, match=r"connect to 127\.0\.0\.1:9 "):
        mysql.connect("127.0.0.1", 9, "root", "x", wait_seconds=2)


def test_a_statement_the_server_does_not_answer_in_time_fails_instead_of_hanging(mysql_server: MySQLServer) -> None:
    with mysql.connect(mysql_server.host, mysql_server.port, "root", mysql_server.root_password, timeout=1) as conn:
        started = time.monotonic()
        with conn.cursor() as cursor, pytest.raises(pymysql.err.OperationalError, match="timed out"):
            cursor.execute("SELECT SLEEP(20)")
        assert time.monotonic() - started < 5


def test_hostile_names_never_reach_the_server(mysql_server: MySQLServer) -> None:
    with root(mysql_server) as conn, pytest.raises(InputError):
        mysql.ensure_database(conn, "x`; DROP DATABASE mysql; --", "u", "p4ssword")


def test_the_command_line_entry_point_reads_its_environment(mysql_server: MySQLServer) -> None:
    name = f"cli_{uuid.uuid4().hex[:8]}"
    environment = {
        "MYSQL_HOST": mysql_server.host,
        "MYSQL_PORT": str(mysql_server.port),
        "MYSQL_ROOT_PASSWORD": mysql_server.root_password,
        "DB_NAME": name,
        "DB_USER": name,
        "DB_PASSWORD": new_password(),
    }
    done = subprocess.run(
        [sys.executable, "-m", "mlops_clients.mysql", "ensure-database"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert name in done.stdout and environment["DB_PASSWORD"] not in done.stdout + done.stderr
    missing = subprocess.run(
        [sys.executable, "-m", "mlops_clients.mysql", "ensure-database"],
        env={k: v for k, v in environment.items() if k != "DB_PASSWORD"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == 1
    assert "DB_PASSWORD is not set" in missing.stderr


def test_gitbucket_root_password_is_replaced_once(mysql_server: MySQLServer) -> None:
    """On a stand-in of GitBucket's ACCOUNT table (the real schema needs GitBucket itself)."""
    name, password = f"gb_{uuid.uuid4().hex[:8]}", new_password()
    with root(mysql_server) as conn:
        mysql.ensure_database(conn, name, name, password)
    with mysql.connect(mysql_server.host, mysql_server.port, name, password, database=name) as conn:
        with conn.cursor() as cursor:
            cursor.execute("CREATE TABLE ACCOUNT (USER_NAME VARCHAR(100) PRIMARY KEY, PASSWORD VARCHAR(200))")
            cursor.execute("INSERT INTO ACCOUNT VALUES ('root', SHA1('root'))")
        assert gitbucket.set_account_password(conn, "root", "a-new-Password-1") == {"user": "root", "changed": True}
        assert gitbucket.set_account_password(conn, "root", "a-new-Password-1") == {"user": "root", "changed": False}
        with conn.cursor() as cursor:
            cursor.execute("SELECT PASSWORD FROM ACCOUNT WHERE USER_NAME = 'root'")
            (stored,) = cursor.fetchone()
        assert stored.startswith("$pbkdf2-sha256$100000$")
        assert gitbucket.password_matches("a-new-Password-1", stored)
        assert not gitbucket.password_matches("root", stored)
        with pytest.raises(ServiceError, match="no such account"):
            gitbucket.set_account_password(conn, "nobody", "a-new-Password-1")
        with pytest.raises(InputError):
            gitbucket.set_account_password(conn, "root", "x" * 41)
