"""The MLflow stand-in as the stack runs it, against the MySQL and S3 stand-ins, over real HTTP.

All three run on a network of the test's own: the stack's derived image
(images/mlflow, built here on the stand-in as `up` builds it), the prepare step
and the server with the stack's own commands and auth config
(components/mlflow.py), the prepare code mounted where the stack uploads it,
the user store on a volume of the test's own. Checked: the schema is
created and migrated, anonymous requests are refused, the pipeline account
works on what it creates and nothing else, artifacts land in the bucket
through the server's proxy, and a rotated password takes effect.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any

import pymysql
import pytest
import requests

from components import mlflow
from components.files import MLFLOW_IMAGE_CONTEXT, PROJECT_DIR
from mlops_clients import mysql, s3
from mlops_clients.contracts import MLflowAction, MLflowEnv
from tests.support.containers import (
    docker_client,
    host_port,
    network,
    new_password,
    require_image,
    running,
    wait_until,
)

pytestmark = pytest.mark.integration
TIMEOUT = 30


@dataclass
class Deployment:
    client: Any  # docker
    net: str
    image: str
    users_volume: str
    env: dict[str, str]
    url: str
    mysql_port: int
    mysql_root: str
    s3_endpoint: str
    s3_root: tuple[str, str]
    admin: tuple[str, str]
    pipeline: tuple[str, str]
    mysql_name: str = ""  # the MySQL container, by name on the network
    internal_url: str = ""  # the MLflow server, by name on the network

    def prepare(self, **overrides: str) -> tuple[int, str]:
        """Run the prepare step to completion: (exit code, log)."""
        container = self.client.containers.run(
            self.image,
            command=mlflow.client_command(MLflowAction.PREPARE),
            environment={**self.env, **overrides},
            network=self.net,
            user=mlflow.SERVER_USER,
            working_dir="/tmp",
            volumes={
                str(PROJECT_DIR / "mlops_clients"): {"bind": f"{mlflow.CLIENT_DIR}/mlops_clients", "mode": "ro"},
                self.users_volume: {"bind": mlflow.AUTH_DIR, "mode": "rw"},
            },
            detach=True,
            labels={"mlops.test": "true"},
        )
        try:
            code = int(container.wait(timeout=300)["StatusCode"])
            return code, container.logs().decode(errors="replace")
        finally:
            container.remove(force=True)


def prepare_env(uri: str, admin: tuple[str, str], pipeline: tuple[str, str]) -> dict[str, str]:
    return {
        "PYTHONPATH": mlflow.CLIENT_DIR,
        MLflowEnv.BACKEND_STORE_URI: uri,
        MLflowEnv.AUTH_DATABASE_URI: mlflow.AUTH_DATABASE_URI,
        MLflowEnv.ADMIN_USER: admin[0],
        MLflowEnv.ADMIN_PASSWORD: admin[1],
        MLflowEnv.PIPELINE_USER: pipeline[0],
        MLflowEnv.PIPELINE_PASSWORD: pipeline[1],
    }


@pytest.fixture(scope="module")
def derived_image() -> Iterator[str]:
    """images/mlflow on the stand-in, as the program builds it."""
    client = docker_client()
    base = require_image(client, "mlflow")
    tag = f"mlops-test/mlflow:{uuid.uuid4().hex[:10]}"
    client.images.build(
        path=str(PROJECT_DIR / MLFLOW_IMAGE_CONTEXT), buildargs={"MLFLOW_IMAGE": base}, tag=tag, rm=True
    )
    try:
        yield tag
    finally:
        client.images.remove(tag, force=True)


@pytest.fixture(scope="module")
def deployment(derived_image: str) -> Iterator[Deployment]:
    yield from deployed(derived_image)


def deployed(mlflow_image: str) -> Generator[Deployment, None, None]:
    """MySQL, S3 and MLflow (`mlflow_image`) stand-ins of the test's own, with a user store on a new volume."""
    client = docker_client()
    images = {name: require_image(client, name) for name in ("mysql", "minio")}
    images["mlflow"] = mlflow_image
    users = client.volumes.create(f"mlops-test-mlflow-auth-{uuid.uuid4().hex[:10]}", labels={"mlops.test": "true"})
    try:
        yield from deploy(client, images, users.name)
    finally:
        users.remove(force=True)


def deploy(client: Any, images: dict[str, str], users_volume: str) -> Iterator[Deployment]:
    root, s3_user, s3_root = new_password(), ("mlflow", new_password()), ("mlops-test-admin", new_password())
    with (
        network(client) as net,
        running(
            client,
            images["mysql"],
            environment={"MYSQL_ROOT_PASSWORD": root},
            command=["mysqld", "--log-bin-trust-function-creators=ON"],
            network=net,
            ports={"3306/tcp": ("127.0.0.1", None)},
        ) as db,
        running(
            client,
            images["minio"],
            command=["server", "/data"],
            environment={"MINIO_ROOT_USER": s3_root[0], "MINIO_ROOT_PASSWORD": s3_root[1]},
            network=net,
            ports={"9000/tcp": ("127.0.0.1", None)},
        ) as store,
    ):
        mysql_name, s3_name = db.name, store.name  # resolved by name on the network
        mysql_port, endpoint = host_port(db, "3306/tcp"), f"http://127.0.0.1:{host_port(store, '9000/tcp')}"
        db_password = new_password()
        with mysql.connect("127.0.0.1", mysql_port, "root", root) as conn:
            mysql.ensure_database(conn, "mlflow", "mlflow", db_password)
        wait_until(lambda: requests.get(f"{endpoint}/minio/health/ready", timeout=2).ok, 60, "S3")
        s3.ensure_buckets(s3.s3_client(endpoint, *s3_root), [mlflow.BUCKET])
        s3.ensure_scoped_user(s3.admin_client(endpoint, *s3_root), *s3_user, [mlflow.BUCKET])

        uri = f"mysql+pymysql://mlflow:{db_password}@{mysql_name}:3306/mlflow?charset=utf8mb4"
        admin, pipeline = ("admin", new_password()), ("mlflow-pipeline", new_password())
        deployment = Deployment(
            client, net, images["mlflow"], users_volume, prepare_env(uri, admin, pipeline), "", mysql_port, root,
            endpoint, s3_root, admin, pipeline,
        )  # fmt: skip
        deployment.mysql_name = mysql_name
        code, log = deployment.prepare()
        assert code == 0, log
        ini = mlflow.auth_config()
        server_name = f"mlops-test-mlflow-{uuid.uuid4().hex[:8]}"  # clients on the network call it so
        with running(
            client,
            images["mlflow"],
            name=server_name,
            command=mlflow.server_command(f"localhost,localhost:*,127.0.0.1,127.0.0.1:*,{server_name}:*"),
            entrypoint=["sh", "-c", 'printf "%s" "$AUTH_INI" > /tmp/basic_auth.ini && exec "$@"', "sh"],
            environment={
                **mlflow.SERVER_SETTINGS,
                "AUTH_INI": ini,
                MLflowEnv.BACKEND_STORE_URI: uri,
                MLflowEnv.AUTH_CONFIG_PATH: "/tmp/basic_auth.ini",
                MLflowEnv.FLASK_SECRET_KEY: new_password(),
                "MLFLOW_S3_ENDPOINT_URL": f"http://{s3_name}:9000",
                "AWS_ACCESS_KEY_ID": s3_user[0],
                "AWS_SECRET_ACCESS_KEY": s3_user[1],
                "AWS_DEFAULT_REGION": "us-east-1",
            },
            user=mlflow.SERVER_USER,
            network=net,
            volumes={users_volume: {"bind": mlflow.AUTH_DIR, "mode": "rw"}},
            ports={f"{mlflow.INTERNAL_PORT}/tcp": ("127.0.0.1", None)},
        ) as server:
            deployment.url = f"http://127.0.0.1:{host_port(server, f'{mlflow.INTERNAL_PORT}/tcp')}"
            deployment.internal_url = f"http://{server_name}:{mlflow.INTERNAL_PORT}"
            wait_until(lambda: requests.get(f"{deployment.url}/health", timeout=2).ok, 120, "MLflow")
            yield deployment


def api(d: Deployment, method: str, path: str, account: tuple[str, str] | None, **kwargs: Any) -> requests.Response:
    return requests.request(method, f"{d.url}/api/2.0/mlflow/{path}", auth=account, timeout=TIMEOUT, **kwargs)


def test_anonymous_requests_are_refused(deployment: Deployment) -> None:
    assert api(deployment, "GET", "experiments/search?max_results=1", None).status_code == 401
    assert api(deployment, "GET", "experiments/search?max_results=1", ("admin", "wrong-password!")).status_code == 401
    assert api(deployment, "GET", "experiments/search?max_results=1", deployment.admin).status_code == 200


def test_the_pipeline_logs_to_its_own_experiment_and_artifacts_land_in_the_bucket(deployment: Deployment) -> None:
    d, name = deployment, f"it-{uuid.uuid4().hex[:8]}"
    created = api(d, "POST", "experiments/create", d.pipeline, json={"name": name})
    assert created.status_code == 200, created.text
    experiment = created.json()["experiment_id"]
    run = api(d, "POST", "runs/create", d.pipeline, json={"experiment_id": experiment}).json()["run"]["info"]
    metrics = [{"key": "loss", "value": 1.0 / (i + 1), "timestamp": 0, "step": i} for i in range(100)]
    assert api(d, "POST", "runs/log-batch", d.pipeline, json={"run_id": run["run_id"], "metrics": metrics}).ok
    # Through the server's artifact proxy: the client holds no S3 credentials.
    artifact_path = run["artifact_uri"].removeprefix("mlflow-artifacts:/")
    put = requests.put(
        f"{d.url}/api/2.0/mlflow-artifacts/artifacts/{artifact_path}/hello.txt",
        data=b"hello",
        auth=d.pipeline,
        timeout=TIMEOUT,
    )
    assert put.ok, put.text
    keys = [o["Key"] for o in s3.s3_client(d.s3_endpoint, *d.s3_root).list_objects_v2(Bucket="mlflow")["Contents"]]
    assert f"artifacts/{artifact_path}/hello.txt" in keys
    # Anonymous artifact download is refused as well.
    assert (
        requests.get(
            f"{d.url}/api/2.0/mlflow-artifacts/artifacts/{artifact_path}/hello.txt", timeout=TIMEOUT
        ).status_code
        == 401
    )


def test_the_pipeline_account_reaches_nothing_it_was_not_given(deployment: Deployment) -> None:
    d = deployment
    admins = api(d, "POST", "experiments/create", d.admin, json={"name": f"admin-{uuid.uuid4().hex[:8]}"})
    experiment = admins.json()["experiment_id"]
    assert api(d, "GET", f"experiments/get?experiment_id={experiment}", d.pipeline).status_code == 403
    other = {"username": f"u{uuid.uuid4().hex[:8]}", "password": new_password()}
    assert api(d, "POST", "users/create", d.pipeline, json=other).status_code == 403


def test_a_rotated_password_takes_effect_and_the_schema_is_current(deployment: Deployment) -> None:
    d = deployment
    rotated = new_password()
    code, log = d.prepare(**{MLflowEnv.PIPELINE_PASSWORD: rotated})
    assert code == 0, log
    try:
        assert api(d, "GET", "experiments/search?max_results=1", d.pipeline).status_code == 401
        assert api(d, "GET", "experiments/search?max_results=1", (d.pipeline[0], rotated)).status_code == 200
    finally:
        assert d.prepare()[0] == 0
    conn = pymysql.connect(host="127.0.0.1", port=d.mysql_port, user="root", password=d.mysql_root)
    with conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mlflow.alembic_version")
        assert cursor.fetchone() == (1,)


def test_a_short_password_is_refused_before_anything_changes(deployment: Deployment) -> None:
    code, log = deployment.prepare(**{MLflowEnv.PIPELINE_PASSWORD: "short"})
    assert code == 1 and "MLFLOW_PIPELINE_PASSWORD is shorter than MLflow's minimum of 12" in log
    assert "short" not in log.replace("shorter", "")
    assert api(deployment, "GET", "experiments/search?max_results=1", deployment.pipeline).status_code == 200


PREVIOUS_PIN = "3.16.1"  # the MLflow before images/mlflow's 3.17.2: two schema migrations apart
MAKE_SCHEMA = f"""
import os, mlflow
from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore
assert mlflow.__version__ == "{PREVIOUS_PIN}", mlflow.__version__
SqlAlchemyStore(os.environ["MLFLOW_BACKEND_STORE_URI"], "/tmp/a").create_experiment("made-by-{PREVIOUS_PIN}")
"""


def test_the_prepare_step_migrates_a_database_made_by_the_previous_pin(deployment: Deployment) -> None:
    """MLflow PREVIOUS_PIN (pip-installed over the stand-in, in a throwaway container) makes a
    schema with an experiment; the stack's prepare step then migrates it: data kept, schema current."""
    d, database, password = deployment, f"prev_{uuid.uuid4().hex[:8]}", new_password()
    with mysql.connect("127.0.0.1", d.mysql_port, "root", d.mysql_root) as conn:
        mysql.ensure_database(conn, database, database, password)
    uri = f"mysql+pymysql://{database}:{password}@{d.mysql_name}:3306/{database}?charset=utf8mb4"
    packages = " ".join(f"{name}=={PREVIOUS_PIN}" for name in ("mlflow", "mlflow-skinny", "mlflow-tracing"))
    make = f'set -e; pip install --quiet --no-deps {packages}; python -c "$MAKE_SCHEMA"'
    container = d.client.containers.run(
        require_image(d.client, "mlflow"),  # the stand-in: MLflow 3.17.2, replaced by PREVIOUS_PIN in this container
        command=["sh", "-c", make],
        environment={MLflowEnv.BACKEND_STORE_URI: uri, "PIP_CERT": "/tmp/ca.crt", "MAKE_SCHEMA": MAKE_SCHEMA},
        volumes={"/etc/ssl/certs/ca-certificates.crt": {"bind": "/tmp/ca.crt", "mode": "ro"}},
        network=d.net,
        detach=True,
        labels={"mlops.test": "true"},
    )
    try:
        assert int(container.wait(timeout=600)["StatusCode"]) == 0, container.logs().decode()[-3000:]
    finally:
        container.remove(force=True)

    def schema() -> tuple[str, list[str]]:
        conn = pymysql.connect(
            host="127.0.0.1", port=d.mysql_port, user="root", password=d.mysql_root, database=database
        )
        with conn, conn.cursor() as cursor:
            cursor.execute("SELECT version_num FROM alembic_version")
            (version,) = cursor.fetchone()
            cursor.execute("SELECT name FROM experiments")
            return str(version), sorted(str(name) for (name,) in cursor.fetchall())

    before, experiments = schema()
    assert f"made-by-{PREVIOUS_PIN}" in experiments
    code, log = d.prepare(**{MLflowEnv.BACKEND_STORE_URI: uri})
    assert code == 0, log
    after, kept = schema()
    assert after != before and kept == experiments
    # What the server of the stack's image expects: its head revision.
    head = d.client.containers.run(
        d.image,
        command=["python", "-c", "from mlflow.store.db.utils import _get_latest_schema_revision as r; print(r())"],
        remove=True,
    )
    assert after == head.decode().strip().splitlines()[-1]
