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

`python -m mlops_clients.mlflow_server grant-model-api` (the model API's one-shot
`modelapi-grant` container, once the server is up): the API's own account, through the
server's REST API as the admin, with READ on the served model and on the training
experiment, which it creates if no training ran yet (the pipeline account gets MANAGE on
it, as if it had created it).

Runs in the stack's MLflow image (MLflow, SQLAlchemy, PyMySQL, requests); nothing else is imported.
"""

from __future__ import annotations

import time
from typing import Any

from mlops_clients.common import InputError, ServiceError, env, http_session, run_cli
from mlops_clients.contracts import (
    MLFLOW_METRICS_PORT,
    MLFLOW_MIN_PASSWORD_LENGTH,
    MULTIPROC_DIR_VARIABLE,
    MLflowAction,
    MLflowEnv,
    ModelApiEnv,
)

DATABASE_WAIT_SECONDS = 180.0
REST_TIMEOUT = 15.0


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


class AdminSession:
    """The tracking server's REST API as its admin: each call with a timeout, errors named."""

    def __init__(self, url: str, user: str, password: str) -> None:
        self.url, self.session = url.rstrip("/"), http_session(user, password)

    def call(self, method: str, path: str, body: dict[str, Any], allowed: tuple[str, ...] = ()) -> dict[str, Any]:
        """The answer's JSON; an MLflow error code in `allowed` is returned as {"error_code": ...}."""
        import requests

        where = f"{method} {path}"
        try:
            if method == "GET":
                answer = self.session.get(f"{self.url}{path}", params=body, timeout=REST_TIMEOUT)
            else:
                answer = self.session.request(method, f"{self.url}{path}", json=body, timeout=REST_TIMEOUT)
        except requests.RequestException as error:
            raise ServiceError("mlflow", where, str(error)[:300]) from error
        try:
            payload = answer.json() if answer.content else {}
        except ValueError:
            payload = {}
        if answer.ok:
            return dict(payload)
        if isinstance(payload, dict) and payload.get("error_code") in allowed:
            return {"error_code": payload["error_code"]}
        raise ServiceError("mlflow", where, f"HTTP {answer.status_code} {answer.text[:300]}")

    def grant(self, user: str, resource_type: str, resource_id: str, permission: str) -> str:
        """Exactly `permission` (not more): an existing grant of another level is replaced."""
        grant = {"username": user, "resource_type": resource_type, "resource_id": resource_id}
        path = "/api/3.0/mlflow/users/permissions"
        added = self.call("POST", f"{path}/grant", {**grant, "permission": permission}, ("RESOURCE_ALREADY_EXISTS",))
        if "error_code" not in added:
            return "granted"
        if self.call("GET", f"{path}/get", grant).get("permission") == permission:
            return "kept"
        self.call("POST", f"{path}/revoke", grant)
        self.call("POST", f"{path}/grant", {**grant, "permission": permission})
        return "replaced"


def grant_model_api() -> dict[str, Any]:
    admin = AdminSession(env(MLflowEnv.TRACKING_URI), *account(MLflowEnv.ADMIN_USER, MLflowEnv.ADMIN_PASSWORD))
    user, password = account(MLflowEnv.MODEL_API_USER, MLflowEnv.MODEL_API_PASSWORD)
    pipeline, model, experiment = env(MLflowEnv.PIPELINE_USER), env(ModelApiEnv.MODEL), env(ModelApiEnv.EXPERIMENT)
    if user in (env(MLflowEnv.ADMIN_USER), pipeline):
        raise InputError(f"{MLflowEnv.MODEL_API_USER} names the admin or the pipeline account: it must be its own")
    found = admin.call("GET", "/api/2.0/mlflow/users/get", {"username": user}, ("RESOURCE_DOES_NOT_EXIST",))
    account_done = "updated"
    if "error_code" in found:
        admin.call("POST", "/api/2.0/mlflow/users/create", {"username": user, "password": password})
        account_done = "created"
    else:
        admin.call("PATCH", "/api/2.0/mlflow/users/update-password", {"username": user, "password": password})
        admin.call("PATCH", "/api/2.0/mlflow/users/update-admin", {"username": user, "is_admin": False})
    existing = admin.call(
        "GET", "/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": experiment}, ("RESOURCE_DOES_NOT_EXIST",)
    )
    if "error_code" in existing:
        created = admin.call("POST", "/api/2.0/mlflow/experiments/create", {"name": experiment})
        experiment_id = str(created["experiment_id"])
    else:
        experiment_id = str(existing["experiment"]["experiment_id"])
    # Every run, not only after creating it: a run that died in between must not leave the
    # training job without its experiment ("kept" when the pipeline account made it itself).
    admin.grant(pipeline, "experiment", experiment_id, "MANAGE")
    return {
        "account": account_done,
        "experiment": admin.grant(user, "experiment", experiment_id, "READ"),
        "registered_model": admin.grant(user, "registered_model", model, "READ"),
    }


def serve_metrics() -> dict[str, Any]:
    """The server's metrics files, served without a login (MLflow's own /metrics is admin-only).

    Reads only: the directory is mounted read-only. Runs until stopped.
    """
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from prometheus_client import CollectorRegistry, make_wsgi_app
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=env(MULTIPROC_DIR_VARIABLE))  # type: ignore[no-untyped-call]

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            """No line per scrape."""

    app = make_wsgi_app(registry)
    with make_server("0.0.0.0", MLFLOW_METRICS_PORT, app, handler_class=Quiet) as server:  # noqa: S104
        server.serve_forever()
    return {}


if __name__ == "__main__":
    run_cli(
        {
            MLflowAction.PREPARE: prepare,
            MLflowAction.GRANT_MODEL_API: grant_model_api,
            MLflowAction.SERVE_METRICS: serve_metrics,
        }
    )
