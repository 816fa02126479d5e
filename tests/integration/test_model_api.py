"""The model API (model_api/, image images/model-api) against a real MLflow stand-in with
registered versions: it serves the alias's version with a read-only account, follows the
alias under load without a failed request, never swaps in a version that cannot load, and
answers bad requests with 422 naming the field.

The MLflow deployment is test_mlflow_server's (MySQL, S3 and MLflow stand-ins on a network
of the test's own); models are logged and registered by a script in the MLflow image, as the
pipeline account, the way the training job does (skops, a signature, an input example).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from components import model_api
from components.files import PROJECT_DIR
from mlops_clients.contracts import MLFLOW_SERVER, MLflowAction, MLflowEnv, ModelApiEnv
from tests.integration.test_mlflow_server import Deployment, deployed, derived_image  # noqa: F401 (a fixture)
from tests.support.containers import docker_client, host_port, new_password, running, wait_until

pytestmark = pytest.mark.integration
MODEL = "churn_model_test"
FEATURES = ("tenure", "monthly_charges")
TIMEOUT = 30

# Logs and registers one version as the training job does; prints its number.
REGISTER = r"""
import json, os, sys
import mlflow, numpy, pandas
from mlflow import MlflowClient
from mlflow.models import infer_signature
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

fmt, seed = sys.argv[1], int(sys.argv[2])
rng = numpy.random.default_rng(seed)
x = pandas.DataFrame(rng.normal(size=(60, 2)), columns=["tenure", "monthly_charges"])
y = (x["tenure"] + rng.normal(scale=0.3, size=60) > 0).astype(int)
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
mlflow.set_experiment("model_api_test")
with mlflow.start_run() as run:
    mlflow.log_input(mlflow.data.from_pandas(x, name="features"), context="training")
    info = mlflow.sklearn.log_model(
        model, name="model", serialization_format=fmt, signature=infer_signature(x, model.predict(x)),
        input_example=x.head(2),
    )
tags = {"mlops.data_tag": f"CV_test_DV_{seed}", "mlops.data_md5": f"md5-{seed}"}
tags["mlops.code_commit"] = "c0ffee" * 6 + "abcd"
version = mlflow.register_model(info.model_uri, os.environ["MODEL"], tags=tags)
print(json.dumps({"version": int(version.version), "run_id": run.info.run_id}))
"""


@pytest.fixture(scope="module")
def mlflow_deployment(derived_image: str) -> Iterator[Deployment]:  # noqa: F811 (the fixture above)
    yield from deployed(derived_image)


@pytest.fixture(scope="module")
def model_api_image(derived_image: str) -> Iterator[str]:  # noqa: F811
    """images/model-api on the stand-in MLflow image, as the program would build it."""
    client = docker_client()
    tag = f"mlops-test/model-api:{uuid.uuid4().hex[:10]}"
    client.images.build(
        path=str(PROJECT_DIR / "images" / "model-api"), buildargs={"MLFLOW_IMAGE": derived_image}, tag=tag, rm=True
    )
    try:
        yield tag
    finally:
        client.images.remove(tag, force=True)


def register(d: Deployment, fmt: str = "skops", seed: int = 1) -> dict[str, Any]:
    """One version, as the pipeline account (which owns the experiment and the model)."""
    output = d.client.containers.run(
        d.image,
        command=["python", "-c", REGISTER, fmt, str(seed)],
        environment={
            MLflowEnv.TRACKING_URI: d.internal_url,
            MLflowEnv.TRACKING_USERNAME: d.pipeline[0],
            MLflowEnv.TRACKING_PASSWORD: d.pipeline[1],
            "MODEL": MODEL,
            "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD": "false",
        },
        network=d.net,
        working_dir="/tmp",
        remove=True,
        labels={"mlops.test": "true"},
    )
    result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return result


def mlflow_call(d: Deployment, account: tuple[str, str], method: str, path: str, body: dict[str, Any]) -> Any:
    answer = requests.request(method, f"{d.url}{path}", json=body, auth=account, timeout=TIMEOUT)
    assert answer.ok, f"{method} {path}: {answer.status_code} {answer.text[:300]}"
    return answer.json() if answer.content else {}


def set_alias(d: Deployment, version: int) -> None:
    body = {"name": MODEL, "alias": "champion", "version": str(version)}
    mlflow_call(d, d.pipeline, "POST", "/api/2.0/mlflow/registered-models/alias", body)


CODE = {
    str(PROJECT_DIR / "model_api"): {"bind": "/opt/model-api/model_api", "mode": "ro"},
    str(PROJECT_DIR / "mlops_clients"): {"bind": "/opt/model-api/mlops_clients", "mode": "ro"},
}


def grant(d: Deployment, image: str, password: str, experiment: str = "model_api_test") -> dict[str, Any]:
    """The program's grant step (components/model_api.py): the API's account, made by the admin."""
    output = d.client.containers.run(
        image,
        command=["python", "-m", f"mlops_clients.{MLFLOW_SERVER.module}", MLflowAction.GRANT_MODEL_API],
        environment={
            MLflowEnv.TRACKING_URI: d.internal_url,
            MLflowEnv.ADMIN_USER: d.admin[0],
            MLflowEnv.ADMIN_PASSWORD: d.admin[1],
            MLflowEnv.PIPELINE_USER: d.pipeline[0],
            MLflowEnv.MODEL_API_USER: model_api.USER,
            MLflowEnv.MODEL_API_PASSWORD: password,
            ModelApiEnv.MODEL: MODEL,
            ModelApiEnv.EXPERIMENT: experiment,
        },
        network=d.net,
        volumes=CODE,
        remove=True,
        labels={"mlops.test": "true"},
    )
    result: dict[str, Any] = json.loads(output.decode().strip().splitlines()[-1])
    return result


def permission(d: Deployment, user: str, resource_type: str, resource_id: str) -> str:
    query = {"username": user, "resource_type": resource_type, "resource_id": resource_id}
    answer = requests.get(f"{d.url}/api/3.0/mlflow/users/permissions/get", params=query, auth=d.admin, timeout=TIMEOUT)
    assert answer.ok, answer.text
    return str(answer.json()["permission"])


def reader_account(d: Deployment, image: str) -> tuple[str, str]:
    """READ on the model and its experiment only; run twice, as every `up` does."""
    reader = (model_api.USER, new_password())
    first = grant(d, image, new_password())
    assert first == {"account": "created", "experiment": "granted", "registered_model": "granted"}, first
    again = grant(d, image, reader[1])  # a rotated password
    assert again == {"account": "updated", "experiment": "kept", "registered_model": "kept"}, again
    return reader


@pytest.fixture(scope="module")
def served(mlflow_deployment: Deployment, model_api_image: str) -> Iterator[tuple[Deployment, str, dict[str, Any]]]:
    d = mlflow_deployment
    first = register(d, seed=1)
    set_alias(d, first["version"])
    reader = reader_account(d, model_api_image)
    with running(
        d.client,
        model_api_image,
        environment={
            MLflowEnv.TRACKING_URI: d.internal_url,
            MLflowEnv.TRACKING_USERNAME: reader[0],
            MLflowEnv.TRACKING_PASSWORD: reader[1],
            ModelApiEnv.MODEL: MODEL,
            ModelApiEnv.POLL_SECONDS: "1",
            ModelApiEnv.MAX_ROWS: "50",
            ModelApiEnv.MAX_BODY_BYTES: "65536",
        },  # MLflow's timeouts and the proxied download: the image's own settings
        network=d.net,
        volumes=CODE,
        ports={"8000/tcp": ("127.0.0.1", None)},
    ) as api:
        url = f"http://127.0.0.1:{host_port(api, '8000/tcp')}"
        wait_until(lambda: requests.get(f"{url}/health", timeout=2).status_code == 200, 180, "the model API")
        yield d, url, first


def rows(count: int) -> dict[str, Any]:
    return {"dataframe_records": [{"tenure": float(i), "monthly_charges": 1.5 * i} for i in range(count)]}


def test_serves_the_alias_version_with_its_lineage(served: tuple[Deployment, str, dict[str, Any]]) -> None:
    _, url, first = served
    health = requests.get(f"{url}/health", timeout=TIMEOUT).json()
    assert health["status"] == "ready" and health["version"] == first["version"]
    meta = requests.get(f"{url}/metadata", timeout=TIMEOUT).json()
    assert meta["name"] == MODEL and meta["alias"] == "champion" and meta["run_id"] == first["run_id"]
    assert meta["data_tag"] == "CV_test_DV_1" and meta["data_md5"] == "md5-1" and meta["code_commit"].endswith("abcd")
    assert meta["dataset_digest"] and meta["features"] == list(FEATURES)
    answer = requests.post(f"{url}/predict", json=rows(3), timeout=TIMEOUT)
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["predictions"]) == 3 and answer.json()["model"]["version"] == first["version"]


@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"dataframe_records": [{"tenure": 1.0}]}, ["body", "dataframe_records", 0, "monthly_charges"]),
        ({"dataframe_records": [{"tenure": "x", "monthly_charges": 1}]}, ["body", "dataframe_records", 0, "tenure"]),
        (
            {"dataframe_records": [{"tenure": 1, "monthly_charges": 1, "extra": 2}]},
            ["body", "dataframe_records", 0, "extra"],
        ),
        ({"dataframe_records": []}, ["body", "dataframe_records"]),
        ({"rows": []}, ["body", "rows"]),
        (rows(51), ["body", "dataframe_records"]),
    ],
)
def test_a_bad_request_gets_422_naming_the_field(
    served: tuple[Deployment, str, dict[str, Any]], body: dict[str, Any], where: list[Any]
) -> None:
    _, url, _ = served
    answer = requests.post(f"{url}/predict", json=body, timeout=TIMEOUT)
    assert answer.status_code == 422, answer.text
    assert where in [d["loc"] for d in answer.json()["detail"]], answer.json()


def test_a_body_over_the_limit_is_refused_unread(served: tuple[Deployment, str, dict[str, Any]]) -> None:
    _, url, _ = served
    answer = requests.post(f"{url}/predict", data=b"{" + b" " * 70_000 + b"}", timeout=TIMEOUT)
    assert answer.status_code == 413
    chunked = requests.post(f"{url}/predict", data=iter([b" " * 40_000, b" " * 40_000]), timeout=TIMEOUT)
    assert chunked.status_code == 413  # no Content-Length: counted as it arrives
    assert requests.post(f"{url}/predict", data=b"{not json", timeout=TIMEOUT).status_code == 422


def test_the_alias_moved_under_load_fails_no_request_and_a_broken_version_is_not_swapped_in(
    served: tuple[Deployment, str, dict[str, Any]],
) -> None:
    d, url, first = served
    second = register(d, seed=2)
    statuses: list[int] = []
    versions: set[int] = set()
    stop = threading.Event()

    def load() -> None:
        with requests.Session() as session:
            while not stop.is_set():
                try:
                    answer = session.post(f"{url}/predict", json=rows(5), timeout=TIMEOUT)
                except requests.RequestException:
                    statuses.append(0)  # a reset or refused connection is a failed request too
                    continue
                statuses.append(answer.status_code)
                if answer.status_code == 200:
                    versions.add(answer.json()["model"]["version"])

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        time.sleep(1)
        set_alias(d, second["version"])
        wait_until(
            lambda: requests.get(f"{url}/health", timeout=2).json().get("version") == second["version"], 120, "swap"
        )
        time.sleep(1)
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=TIMEOUT)
    assert not any(worker.is_alive() for worker in workers)
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}
    assert versions == {first["version"], second["version"]}

    broken = register(d, fmt="cloudpickle", seed=3)  # a format the API refuses to load
    set_alias(d, broken["version"])

    def failed() -> bool:
        health = requests.get(f"{url}/health", timeout=2).json()
        return f"version {broken['version']}" in str(health.get("last_load_error"))

    wait_until(failed, 120, "the broken version's failure")
    health = requests.get(f"{url}/health", timeout=TIMEOUT).json()
    assert health["status"] == "ready" and health["version"] == second["version"]
    assert "only skops is loaded" in health["last_load_error"]
    assert (
        requests.post(f"{url}/predict", json=rows(1), timeout=TIMEOUT).json()["model"]["version"] == second["version"]
    )
    families = {f.name: f for f in text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=TIMEOUT).text)}
    [info] = families["model_version_info"].samples  # the old version's series is gone
    assert info.value == 1 and info.labels == {
        "name": MODEL,
        "version": str(second["version"]),
        "alias": "champion",
        "run_id": second["run_id"],
    }
    [streak] = families["model_api_consecutive_load_failures"].samples
    assert streak.value >= 1
    served_ok = [
        s
        for s in families["model_api_requests"].samples
        if s.name == "model_api_requests_total" and s.labels == {"endpoint": "/predict", "status": "200"}
    ]
    assert served_ok and served_ok[0].value >= len(statuses)


def test_the_grant_step_makes_a_read_only_account_and_an_experiment_training_can_use(
    served: tuple[Deployment, str, dict[str, Any]], model_api_image: str
) -> None:
    d, _, _ = served
    experiment = f"not_trained_yet_{uuid.uuid4().hex[:6]}"
    password = new_password()
    assert grant(d, model_api_image, password, experiment)["experiment"] == "granted"
    found = mlflow_call(d, d.admin, "GET", "/api/2.0/mlflow/experiments/get-by-name", {"experiment_name": experiment})
    experiment_id = found["experiment"]["experiment_id"]
    assert found["experiment"]["artifact_location"].startswith("mlflow-artifacts:/")  # through the server's proxy
    assert permission(d, d.pipeline[0], "experiment", experiment_id) == "MANAGE"  # as if it had created it
    assert permission(d, model_api.USER, "experiment", experiment_id) == "READ"
    # A wider grant made by hand is narrowed back to READ by the next run.
    body = {"username": model_api.USER, "resource_type": "registered_model", "resource_id": MODEL}
    mlflow_call(d, d.admin, "POST", "/api/3.0/mlflow/users/permissions/revoke", body)
    mlflow_call(d, d.admin, "POST", "/api/3.0/mlflow/users/permissions/grant", {**body, "permission": "MANAGE"})
    assert grant(d, model_api_image, password, experiment)["registered_model"] == "replaced"
    assert permission(d, model_api.USER, "registered_model", MODEL) == "READ"
    # READ only: the account cannot move the alias nor write to the training experiment.
    reader = (model_api.USER, password)
    moved = {"name": MODEL, "alias": "champion", "version": "1"}
    answer = requests.post(f"{d.url}/api/2.0/mlflow/registered-models/alias", json=moved, auth=reader, timeout=TIMEOUT)
    assert answer.status_code == 403, answer.text
    run = {"experiment_id": experiment_id}
    answer = requests.post(f"{d.url}/api/2.0/mlflow/runs/create", json=run, auth=reader, timeout=TIMEOUT)
    assert answer.status_code == 403, answer.text
