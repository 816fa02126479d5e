"""GitBucket: replace the well-known root/root password with the stack's secret.

GitBucket has no API to change a password, so the hash is written where
GitBucket keeps it, in its own database (ACCOUNT.PASSWORD), in the PBKDF2
format GitBucket itself writes (StringUtil.pbkdf2_sha256).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from typing import Any

import pymysql

from mlops_clients import mysql
from mlops_clients.common import InputError, ServiceError, env, run_cli

SERVICE = "gitbucket"
PBKDF2_ITERATIONS = 100_000
MAX_PASSWORD_LENGTH = 40  # GitBucket's account form refuses longer ones


def pbkdf2_hash(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(32)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations, dklen=32)
    return f"$pbkdf2-sha256${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def password_matches(password: str, stored: str) -> bool:
    """GitBucket's check (AccountService.defaultAuthentication): PBKDF2, or a legacy SHA-1 hex."""
    if stored.startswith("$pbkdf2-sha256$"):
        try:
            _, _, iterations, salt, _digest = stored.split("$")
            expected = pbkdf2_hash(password, base64.b64decode(salt), int(iterations))
        except ValueError:
            return False
        return hmac.compare_digest(expected, stored)
    # Legacy format GitBucket still accepts (and seeds root with): read, never written.
    return hmac.compare_digest(hashlib.sha1(password.encode()).hexdigest(), stored)  # noqa: S324


def set_account_password(conn: pymysql.connections.Connection, user: str, password: str) -> dict[str, Any]:
    """Set a GitBucket account's password unless it already is that password."""
    if not 8 <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InputError(f"the GitBucket password must be 8 to {MAX_PASSWORD_LENGTH} characters long")
    with conn.cursor() as cursor:
        try:
            found = cursor.execute("SELECT PASSWORD FROM ACCOUNT WHERE USER_NAME = %s", (user,))
        except pymysql.err.MySQLError as error:
            raise ServiceError(SERVICE, "read ACCOUNT", f"{error} (has GitBucket created its schema?)") from error
        if not found:
            raise ServiceError(SERVICE, f"find account '{user}'", "no such account")
        (stored,) = cursor.fetchone()
        if password_matches(password, stored):
            return {"user": user, "changed": False}
        cursor.execute("UPDATE ACCOUNT SET PASSWORD = %s WHERE USER_NAME = %s", (pbkdf2_hash(password), user))
    return {"user": user, "changed": True}


def _set_root_password_from_env() -> dict[str, Any]:
    conn = mysql.connect(
        env("MYSQL_HOST", "127.0.0.1"),
        int(env("MYSQL_PORT", "3306")),
        env("DB_USER"),
        env("DB_PASSWORD"),
        database=env("DB_NAME"),
    )
    with conn:
        return set_account_password(conn, "root", env("GITBUCKET_ROOT_PASSWORD"))


if __name__ == "__main__":
    run_cli({"set-root-password": _set_root_password_from_env})
