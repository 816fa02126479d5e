"""Per-service databases and users on the stack's MySQL (or MariaDB) server.

`ensure-database` is idempotent: it creates what is missing and re-applies the
password and grants, so a rotated secret takes effect on the next `pulumi up`.
"""

from __future__ import annotations

import re
from typing import Any

import pymysql
import tenacity

from mlops_clients.common import InputError, ServiceError, env, run_cli
from mlops_clients.contracts import MySQLAction, MySQLEnv

_IDENTIFIER = re.compile(r"^[A-Za-z0-9_]{1,32}$")
SERVICE = "mysql"
CONNECT_TIMEOUT = 5  # seconds to open the connection
IO_TIMEOUT = 60.0  # seconds one read or write may wait: the handshake, a statement, its answer


def _check_identifier(kind: str, value: str) -> None:
    if not _IDENTIFIER.match(value):
        raise InputError(f"{kind} '{value}' must be 1-32 letters, digits or underscores")


def connect(
    host: str,
    port: int,
    user: str,
    password: str,
    database: str | None = None,
    wait_seconds: float = 120,
    timeout: float = IO_TIMEOUT,
) -> pymysql.connections.Connection:
    """Connect, retrying while the server is still starting; a refused login fails at once.

    Every read and write on the connection waits `timeout` seconds at most (the
    handshake included): a server that accepts and then says nothing is an error,
    after `wait_seconds` of retries, not a hang.
    """

    def starting(error: BaseException) -> bool:
        # 2003/2013: cannot connect / lost connection (or no answer in time): the server is not up yet.
        return isinstance(error, pymysql.err.OperationalError) and error.args[0] in (2003, 2013)

    try:
        for attempt in tenacity.Retrying(
            retry=tenacity.retry_if_exception(starting),
            wait=tenacity.wait_exponential(multiplier=0.5, max=5),
            stop=tenacity.stop_after_delay(wait_seconds),
            reraise=True,
        ):
            with attempt:
                return pymysql.connect(
                    host=host,
                    port=port,
                    user=user,
                    password=password,
                    database=database,
                    connect_timeout=CONNECT_TIMEOUT,
                    read_timeout=timeout,
                    write_timeout=timeout,
                    autocommit=True,
                )
    except pymysql.err.MySQLError as error:
        raise ServiceError(SERVICE, f"connect to {host}:{port} as {user}", str(error)) from error
    raise AssertionError("unreachable")


def ensure_database(
    conn: pymysql.connections.Connection,
    database: str,
    user: str,
    password: str,
    charset: str = "utf8mb4",
    collation: str = "utf8mb4_unicode_ci",
) -> dict[str, Any]:
    """Create database and user if missing; (re)set the password; grant the database only."""
    _check_identifier("database", database)
    _check_identifier("user", user)
    _check_identifier("charset", charset)
    _check_identifier("collation", collation)
    if not password:
        raise InputError("the database password is empty")
    statements: list[tuple[str, tuple[str, ...]]] = [
        (f"CREATE DATABASE IF NOT EXISTS `{database}` CHARACTER SET {charset} COLLATE {collation}", ()),
        (f"CREATE USER IF NOT EXISTS '{user}'@'%%' IDENTIFIED BY %s", (password,)),
        (f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s", (password,)),
        (f"GRANT ALL PRIVILEGES ON `{database}`.* TO '{user}'@'%%'", ()),
    ]
    with conn.cursor() as cursor:
        for sql, params in statements:
            try:
                cursor.execute(sql, params)  # always format: "%%" becomes "%"
            except pymysql.err.MySQLError as error:
                raise ServiceError(SERVICE, sql.split(" IDENTIFIED")[0], str(error)) from error
    return {"database": database, "user": user}


# What mysqld_exporter's default collectors read (global status and variables, InnoDB's
# compression tables): no table's rows, and not performance_schema (other sessions' SQL).
MONITOR_GRANTS = ("GRANT PROCESS, REPLICATION CLIENT ON *.* TO '{user}'@'%%'",)
MONITOR_CONNECTIONS = 3


def ensure_monitor(conn: pymysql.connections.Connection, user: str, password: str) -> dict[str, Any]:
    """The exporter's account: exists with this password, a few connections, the status grants only."""
    _check_identifier("user", user)
    if not password:
        raise InputError("the monitor account's password is empty")
    limit = f"WITH MAX_USER_CONNECTIONS {MONITOR_CONNECTIONS}"
    statements: list[tuple[str, tuple[str, ...]]] = [
        (f"CREATE USER IF NOT EXISTS '{user}'@'%%' IDENTIFIED BY %s {limit}", (password,)),
        (f"ALTER USER '{user}'@'%%' IDENTIFIED BY %s {limit}", (password,)),
        *((grant.format(user=user), ()) for grant in MONITOR_GRANTS),
    ]
    with conn.cursor() as cursor:
        for sql, params in statements:
            try:
                cursor.execute(sql, params)
            except pymysql.err.MySQLError as error:
                raise ServiceError(SERVICE, sql.split(" IDENTIFIED")[0], str(error)) from error
    return {"user": user}


def _root_connection() -> pymysql.connections.Connection:
    return connect(
        env(MySQLEnv.HOST, "127.0.0.1"), int(env(MySQLEnv.PORT, "3306")), "root", env(MySQLEnv.ROOT_PASSWORD)
    )


def _ensure_monitor_from_env() -> dict[str, Any]:
    with _root_connection() as conn:
        return ensure_monitor(conn, env(MySQLEnv.DB_USER), env(MySQLEnv.DB_PASSWORD))


def _ensure_database_from_env() -> dict[str, Any]:
    with _root_connection() as conn:
        return ensure_database(conn, env(MySQLEnv.DB_NAME), env(MySQLEnv.DB_USER), env(MySQLEnv.DB_PASSWORD))


if __name__ == "__main__":
    run_cli(
        {MySQLAction.ENSURE_DATABASE: _ensure_database_from_env, MySQLAction.ENSURE_MONITOR: _ensure_monitor_from_env}
    )
