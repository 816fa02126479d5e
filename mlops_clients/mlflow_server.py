"""Prepare MLflow's database before its server starts: runs inside the MLflow image.

`python -m mlops_clients.mlflow_server prepare` (the stack's one-shot
`mlflow-prepare` container, as Airflow's `db migrate`):
1. the tracking schema: created on an empty database, else migrated to the
   image's MLflow version (what `mlflow db upgrade` does; run in-process so the
   database URL, which holds a password, is never on a command line);
2. the basic-auth app's user store (SQLite on the service's volume: MLflow's
   auth schema reuses one foreign-key name in two tables, which MySQL refuses),
   created or migrated;
3. the accounts: the admin and the pipeline account exist with the stack's
   passwords. MLflow itself only reads the admin password when it creates the
   admin, so a rotated secret would otherwise never take effect.

Runs in the stack's MLflow image (MLflow, SQLAlchemy, PyMySQL); nothing else is imported.
"""

from __future__ import annotations

import time
from typing import Any

from mlops_clients.common import InputError, ServiceError, env, run_cli
from mlops_clients.contracts import MLFLOW_MIN_PASSWORD_LENGTH, MLflowAction, MLflowEnv

DATABASE_WAIT_SECONDS = 180.0


def wait_for_database(uri: str, timeout: float = DATABASE_WAIT_SECONDS) -> None:
    """MySQL may still be starting: retry a connection for a bounded time."""
    import sqlalchemy

    engine = sqlalchemy.create_engine(uri, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as connection:
                    connection.execute(sqlalchemy.text("SELECT 1"))
                return
            except sqlalchemy.exc.OperationalError as error:
                if time.monotonic() > deadline:
                    raise ServiceError("mysql", "connect as MLflow's user", str(error.orig)[:300]) from error
                time.sleep(2)
    finally:
        engine.dispose()


def migrate_tracking_schema(uri: str) -> None:
    from mlflow.db import upgrade

    # The CLI command itself (creates the tables of an empty database, else upgrades).
    upgrade.main(args=[uri], standalone_mode=False)


def reconcile_accounts(uri: str, accounts: dict[str, tuple[str, bool]]) -> dict[str, str]:
    """Each account exists with its password and admin flag; returns what was done to each."""
    from mlflow.server.auth.db.cli import upgrade
    from mlflow.server.auth.sqlalchemy_store import SqlAlchemyStore

    # The user store's migration, as `mlflow ... auth db upgrade` does it: on one connection.
    # `init_db` alone checks the version in one transaction and migrates on a second
    # connection; on MySQL the first holds a metadata lock on the missing version table
    # that the second waits for, forever (MLflow 3.17.2). Run first, it finds nothing to do.
    upgrade.main(args=["--url", uri], standalone_mode=False)
    store = SqlAlchemyStore()
    store.init_db(uri)
    done: dict[str, str] = {}
    for username, (password, is_admin) in accounts.items():
        if store.has_user(username, use_primary=True):
            store.update_user(username, password=password, is_admin=is_admin)
            done[username] = "updated"
        else:
            store.create_user(username, password, is_admin=is_admin)
            done[username] = "created"
    return done


def account(user_var: MLflowEnv, password_var: MLflowEnv) -> tuple[str, str]:
    user, password = env(user_var), env(password_var)
    if len(password) < MLFLOW_MIN_PASSWORD_LENGTH:
        raise InputError(f"{password_var} is shorter than MLflow's minimum of {MLFLOW_MIN_PASSWORD_LENGTH} characters")
    return user, password


def prepare() -> dict[str, Any]:
    uri, auth_uri = env(MLflowEnv.BACKEND_STORE_URI), env(MLflowEnv.AUTH_DATABASE_URI)
    admin, admin_password = account(MLflowEnv.ADMIN_USER, MLflowEnv.ADMIN_PASSWORD)
    pipeline, pipeline_password = account(MLflowEnv.PIPELINE_USER, MLflowEnv.PIPELINE_PASSWORD)
    if admin == pipeline:
        raise InputError(f"{MLflowEnv.ADMIN_USER} and {MLflowEnv.PIPELINE_USER} name the same account")
    started = time.monotonic()
    wait_for_database(uri)
    migrate_tracking_schema(uri)
    accounts = reconcile_accounts(auth_uri, {admin: (admin_password, True), pipeline: (pipeline_password, False)})
    return {"accounts": accounts, "seconds": round(time.monotonic() - started, 1)}


if __name__ == "__main__":
    run_cli({MLflowAction.PREPARE: prepare})
